"""The run's NumPy engine file (rundir.NUMPY_ENGINE): what the server needs to run the NumPy
engine without TensorFlow, written and verified at export.

    {"format": 1,
     "network": NumpyNetwork.to_document()  (folded normalization, one-hot rows incl. each
                                             StringLookup's out-of-vocabulary row, Dense layers),
     "answer": {"calibration", "threshold", "edges", "lower", "upper"}  (intervals.json's table),
     "savedmodel_sha256": digest of every file of model/ (the SavedModel it was checked against),
     "verification": {"passed", "max_abs_diff", "tolerance", "rows", "outputs", "problems"}}

Export (`export_engine`) folds the trained Keras model, scores the scorer's deterministic
sample batch with it and with the SavedModel just written, and refuses to write the file
(RunDirError) unless every output matches (floats within scorer.MATCH_TOLERANCE, the decision
exactly). A server (`read_engine`) then loads it with NumPy alone; a file that does not
belong to the SavedModel or answer table beside it (re-exported, edited, copied) is reported
as stale and the server falls back to verifying with TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import atomic, rundir
from pipeline.errors import RunDirError
from pipeline.serving.fastpath import FastPathUnavailable, NumpyNetwork, answer_outputs, fold_model

FORMAT = 1
ANSWER_KEYS = ("calibration", "threshold", "edges", "lower", "upper")


class EngineFileUnusable(Exception):
    """The engine file is missing, unreadable or does not belong to the run beside it."""


@dataclass(frozen=True)
class Verification:
    """How the NumPy engine compared with the SavedModel on the sample batch."""

    passed: bool
    max_abs_diff: float
    tolerance: float
    rows: int
    outputs: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "rows": self.rows, "outputs": list(self.outputs), "problems": list(self.problems)}


@dataclass(frozen=True)
class LoadedEngine:
    network: NumpyNetwork
    verification: dict[str, Any]


def savedmodel_digest(model_dir: Path) -> str:
    """sha256 over the relative paths and contents of every file of the SavedModel directory
    (a few hundred kB: well under a millisecond of hashing)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def answer_of(table: dict[str, Any]) -> dict[str, Any]:
    """The part of intervals.json the engine computes with, as plain JSON values."""
    return {key: _plain(table[key]) for key in ANSWER_KEYS}


def verify_network(network: NumpyNetwork, table: dict[str, Any], threshold: float,
                   reference: Any) -> Verification:
    """Every output of `network` + the answer table against `reference` (Batch -> outputs, the
    SavedModel's signature) on the scorer's deterministic sample batch."""
    from pipeline.serving import scorer

    sample = scorer.sample_batch()
    ours = answer_outputs(network.predict(sample.numeric, sample.codes), table, threshold)
    expected = reference(sample)
    difference, wrong = scorer.output_differences(ours, expected)
    return Verification(not wrong, difference, scorer.MATCH_TOLERANCE, len(sample), tuple(expected),
                        tuple(wrong))


def export_engine(model: Any, run_dir: Path, signature: Any = None) -> Verification:
    """Fold the Keras `model`, verify it against run_dir's SavedModel (`signature`: its serving
    signature, when already loaded) and answer table, and write the engine file; RunDirError
    (nothing written) when it does not match."""
    from pipeline.serving.scorer import interval_table, savedmodel_outputs
    from pipeline.training.export import load_signature

    run = rundir.RunDir(Path(run_dir))
    table = interval_table(run.path)
    try:
        network = fold_model(model)
    except FastPathUnavailable as exc:
        raise RunDirError(f"{run.path}: the NumPy engine cannot compute this model ({exc})") from None
    if signature is None:
        signature = load_signature(run.model_dir)
    verification = verify_network(network, table, float(table["threshold"]), savedmodel_outputs(signature))
    if not verification.passed:
        raise RunDirError(f"{run.model_dir}: the NumPy engine does not match the SavedModel on "
                          f"{verification.rows} sample rows ({'; '.join(verification.problems)}); "
                          "nothing was written")
    atomic.write_json(run.numpy_engine_file, {
        "format": FORMAT, "network": network.to_document(), "answer": answer_of(table),
        "savedmodel_sha256": savedmodel_digest(run.model_dir), "verification": verification.as_dict()})
    return verification


def read_engine(source_dir: Path, model_dir: Path, table: dict[str, Any]) -> LoadedEngine:
    """The verified network of source_dir's engine file, checked to belong to the SavedModel
    in `model_dir` and to the answer table `table`; EngineFileUnusable says why not."""
    path = rundir.RunDir(Path(source_dir)).numpy_engine_file
    if not path.is_file():
        raise EngineFileUnusable(f"{path} not found (a run exported before the NumPy engine file)")
    try:
        document = atomic.read_json(path)
        if document.get("format") != FORMAT:
            raise EngineFileUnusable(f"{path}: format {document.get('format')!r}, expected {FORMAT}")
        if document["verification"]["passed"] is not True:
            raise EngineFileUnusable(f"{path}: not verified against the SavedModel")
        if document["answer"] != answer_of(table):
            raise EngineFileUnusable(f"{path}: its answer table is not {rundir.INTERVALS}'s (stale file)")
        if document["savedmodel_sha256"] != savedmodel_digest(Path(model_dir)):
            raise EngineFileUnusable(f"{path}: made for another SavedModel than {model_dir} (stale file)")
        return LoadedEngine(NumpyNetwork.from_document(document["network"]), document["verification"])
    except EngineFileUnusable:
        raise
    except (RunDirError, OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EngineFileUnusable(f"{path}: unreadable ({exc.__class__.__name__}: {exc})") from None


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars as JSON lists and floats (float32 values widened exactly)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value, dtype=np.float64).tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
