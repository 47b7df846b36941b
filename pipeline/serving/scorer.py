"""A loaded model ready to score encoded batches: every output of its serving signature.

Two engines compute the same function. `numpy` (pipeline.serving.fastpath) runs the network
from the Keras weights and the answer table (calibration, interval, decision) from
intervals.json in microseconds; `savedmodel` calls the exported signature (about 0.4 ms a
call). The NumPy engine is used only after all its outputs matched the SavedModel's (floats
within MATCH_TOLERANCE, the decision exactly) on VERIFY_ROWS deterministic sample rows
covering every category value and the numeric bounds. Export does that check and stores the
network with its result (pipeline.serving.engine_file), so loading it needs no TensorFlow;
`verify` repeats it at load, and runs exported without the file are checked at load from
model.keras. When the check fails the server logs why and falls back to the SavedModel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import Config
from pipeline.core import atomic
from pipeline.core.rundir import NUMPY_ENGINE
from pipeline.errors import ServingError
from pipeline.serving.fastpath import answer_outputs
from pipeline.serving.instances import Batch, raw_features
from pipeline.training import schema

if TYPE_CHECKING:
    from pipeline.serving.engine_file import LoadedEngine
    from pipeline.serving.fastpath import NumpyNetwork

log = logging.getLogger(__name__)

MATCH_TOLERANCE = 1e-5
VERIFY_ROWS = 512
VERIFY_SEED = 20240601
ENGINES = ("auto", "numpy", "savedmodel")

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Scores:
    """Per instance: churn probability, interval bounds and the thresholded label."""

    probability: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    churn: np.ndarray


@dataclass(frozen=True)
class Scorer:
    """A model version and the function that scores it. `predict` gives the network's raw
    probabilities; `signature`, when set (the savedmodel engine), gives all outputs itself."""

    name: str
    version_id: str
    engine: str
    threshold: float
    intervals: dict[str, Any]
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
    max_verify_diff: float | None = None
    signature: Callable[[Batch], Outputs] | None = None

    def outputs(self, batch: Batch) -> Outputs:
        """The `serving_default` outputs of a validated batch, in signature order, with the
        SavedModel's dtypes: churn_probability, raw_probability (float32 [n]), interval
        (float32 [n, 2]), churn (bool [n])."""
        if self.signature is not None:
            return self.signature(batch)
        raw = np.asarray(self.predict(batch.numeric, batch.codes), dtype=np.float64)
        return answer_outputs(raw, self.intervals, self.threshold)

    def score(self, batch: Batch) -> Scores:
        """Scores of a validated batch (the outputs, probabilities as float64)."""
        answer = self.outputs(batch)
        interval = answer["interval"].astype(np.float64)
        return Scores(answer["churn_probability"].astype(np.float64), interval[:, 0], interval[:, 1],
                      answer["churn"])


def load_scorer(config: Config, ref: str, engine: str = "auto", verify: bool = False) -> Scorer:
    """Resolve REF (churn@champion, churn@3, a run directory) and load it for scoring; with
    `verify`, the NumPy engine is checked against the SavedModel again (loads TensorFlow)."""
    from pipeline.registry.local_registry import resolve_model

    if engine not in ENGINES:
        raise ServingError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    resolved = resolve_model(config, ref)
    return scorer_from_dirs(resolved.name, resolved.version_id, Path(resolved.model_dir),
                            Path(resolved.source_dir), engine, verify)


def scorer_from_dirs(name: str, version_id: str, model_dir: Path, source_dir: Path,
                     engine: str = "auto", verify: bool = False) -> Scorer:
    """A Scorer from a SavedModel directory and the run files beside it. The NumPy engine
    comes from the run's engine file without TensorFlow (verified at export) unless `verify`;
    runs without one fold model.keras and verify it here, with TensorFlow."""
    from pipeline.serving.engine_file import EngineFileUnusable, read_engine

    table = interval_table(source_dir)
    threshold = float(table.get("threshold", atomic.read_json(source_dir / "metrics.json")["threshold"]))
    stored = None
    if engine != "savedmodel":
        try:
            stored = read_engine(source_dir, model_dir, table)
        except EngineFileUnusable as exc:
            log.info("NumPy engine file unusable (%s): verifying the NumPy engine against the SavedModel "
                     "with TensorFlow (slower start)", exc)
        else:
            if not verify:
                log.info("NumPy engine from %s (verified at export: max |diff| %.2e on %s rows); no TensorFlow",
                         NUMPY_ENGINE, stored.verification["max_abs_diff"], stored.verification["rows"])
                return Scorer(name, version_id, "numpy", threshold, table, stored.network.predict,
                              float(stored.verification["max_abs_diff"]))
    return _scorer_with_tensorflow(name, version_id, model_dir, source_dir, engine, table, threshold, stored)


def _scorer_with_tensorflow(name: str, version_id: str, model_dir: Path, source_dir: Path, engine: str,
                            table: dict[str, Any], threshold: float, stored: LoadedEngine | None) -> Scorer:
    """The SavedModel engine, or the NumPy one verified against it now (the stored network,
    else one folded from model.keras)."""
    from pipeline.training.export import load_signature

    reference = savedmodel_outputs(load_signature(model_dir))
    raw_reference = _raw_of(reference)
    if engine == "savedmodel":
        return Scorer(name, version_id, "savedmodel", threshold, table, raw_reference, signature=reference)
    fast, difference, why = _verified_fast_path(source_dir / "model.keras", reference, table, threshold,
                                                stored.network if stored is not None else None)
    if fast is not None:
        return Scorer(name, version_id, "numpy", threshold, table, fast, difference)
    if engine == "numpy":
        raise ServingError(f"{source_dir}: the NumPy engine is unavailable ({why}); "
                           "use --engine auto or savedmodel")
    log.warning("serving %s@%s with the SavedModel (slower): NumPy fast path unavailable: %s",
                name, version_id, why)
    return Scorer(name, version_id, "savedmodel", threshold, table, raw_reference, signature=reference)


def sample_batch(rows: int = VERIFY_ROWS, seed: int = VERIFY_SEED) -> Batch:
    """Deterministic rows: every category value and an unknown one (code len(values), which the
    model's StringLookup scores through its out-of-vocabulary slot), numeric bounds, random
    values between."""
    wanted, rows = rows, max(rows, VERIFY_ROWS)
    rng = np.random.default_rng(seed)
    numeric = np.empty((rows, len(schema.NUMERIC_FEATURES)))
    for column, name in enumerate(schema.NUMERIC_FEATURES):
        bounds = schema.NUMERIC_RANGES[name]
        high = min(bounds.high, 10_000.0)  # realistic scale, plus the true bound below
        values = rng.uniform(bounds.low, high, rows)
        values[:2] = (bounds.low, bounds.high)
        numeric[:, column] = np.round(values) if bounds.integer else values
    codes = np.stack([(np.arange(rows) + rng.integers(0, len(values) + 1, rows)) % (len(values) + 1)
                      for values in schema.CATEGORICAL_VALUES.values()], axis=1)
    codes[: max(len(v) for v in schema.CATEGORICAL_VALUES.values()) + 1] = _every_value_rows()
    return Batch(numeric=numeric[:wanted], codes=codes[:wanted].astype(np.intp),
                 customer_ids=[None] * wanted)


def _every_value_rows() -> np.ndarray:
    longest = max(len(v) for v in schema.CATEGORICAL_VALUES.values()) + 1
    return np.stack([np.arange(longest) % (len(values) + 1) for values in schema.CATEGORICAL_VALUES.values()],
                    axis=1)


def interval_table(source_dir: Path) -> dict[str, Any]:
    """intervals.json with its edges and bounds as the float32 arrays the graph holds."""
    table = atomic.read_json(source_dir / "intervals.json")
    arrays = {key: np.asarray(table[key], dtype=np.float32) for key in ("edges", "lower", "upper")}
    return {**table, **arrays, "inner_edges": arrays["edges"][1:-1]}


def savedmodel_outputs(signature: Any) -> Callable[[Batch], Outputs]:
    """Batch -> every output of a loaded signature."""
    from pipeline.training.export import signature_outputs

    def outputs(batch: Batch) -> Outputs:
        return signature_outputs(signature, raw_features(batch))

    return outputs


def _raw_of(outputs: Callable[[Batch], Outputs]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def predict(numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        batch = Batch(numeric=numeric, codes=codes, customer_ids=[])
        return outputs(batch)["raw_probability"].astype(np.float64)

    return predict


def output_differences(ours: Outputs, reference: Outputs) -> tuple[float, list[str]]:
    """Max |diff| over the float outputs, and the outputs that disagree (missing, other
    dtype or shape, a float beyond MATCH_TOLERANCE, any decision differing)."""
    worst, wrong = 0.0, []
    for name, expected in reference.items():
        got = ours.get(name)
        if got is None or got.dtype != expected.dtype or got.shape != expected.shape:
            wrong.append(f"{name} missing or of another dtype/shape than the SavedModel's")
        elif expected.dtype == np.bool_:
            if not np.array_equal(got, expected):
                wrong.append(f"{name} differs from the SavedModel on {int(np.sum(got != expected))} rows")
        else:
            difference = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
            worst = max(worst, difference)
            if not difference <= MATCH_TOLERANCE:
                wrong.append(f"{name} differs from the SavedModel by {difference:.2e} > {MATCH_TOLERANCE:g}")
    return worst, wrong


def _verified_fast_path(keras_path: Path, reference: Callable[[Batch], Outputs], table: dict[str, Any],
                        threshold: float, network: NumpyNetwork | None = None
                        ) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray] | None, float | None, str]:
    """(predict, max |diff|, "") of the NumPy engine when it matches the SavedModel on the
    sample batch, else (None, max |diff| or None, why not). Without `network`, it is folded
    from model.keras."""
    from pipeline.serving.engine_file import verify_network
    from pipeline.serving.fastpath import FastPathUnavailable, network_from_keras

    if network is None:
        if not keras_path.is_file():
            return None, None, f"{keras_path} not found"
        try:
            network = network_from_keras(keras_path)
        except FastPathUnavailable as exc:
            return None, None, str(exc)
    verification = verify_network(network, table, threshold, reference)
    if not verification.passed:
        return None, verification.max_abs_diff, "; ".join(verification.problems)
    log.info("NumPy fast path verified: all outputs match the SavedModel, max |diff| %.2e on %d rows",
             verification.max_abs_diff, verification.rows)
    return network.predict, verification.max_abs_diff, ""
