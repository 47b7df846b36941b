"""Export: a SavedModel that takes raw features and answers the whole prediction, plus a
model card. The same SavedModel is what Vertex AI's prebuilt TF serving image loads, so
every per-instance value the server returns is an output of this graph:

  churn_probability  float32 [batch]     calibrated on the validation split (Platt)
  raw_probability    float32 [batch]     the network's own sigmoid
  interval           float32 [batch, 2]  lower, upper; always brackets churn_probability
  churn              bool    [batch]     churn_probability >= the run's decision threshold

Beside it, rundir.NUMPY_ENGINE holds the same network folded for NumPy, checked against
this graph here (pipeline.serving.engine_file), so the server scores without TensorFlow.
`serving_default` takes exactly the raw features; `with_customer_id` also takes `customerID`
(string) and echoes it, so IDs can travel on Vertex with `signature_name`. The calibration,
threshold and interval table come from pipeline.training.calibration (intervals.json)."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from pipeline.core import atomic
from pipeline.core.records import RunContext
from pipeline.core.rundir import RunDir
from pipeline.errors import RunDirError
from pipeline.training import schema

SIGNATURE = "serving_default"
ID_SIGNATURE = "with_customer_id"
OUTPUT = "churn_probability"
OUTPUTS = ("churn_probability", "raw_probability", "interval", "churn")
OUTPUT_DESCRIPTIONS = {
    "churn_probability": "float32, shape [batch]: probability of churn, calibrated on the validation split",
    "raw_probability": "float32, shape [batch]: the network's own sigmoid output, before calibration",
    "interval": "float32, shape [batch, 2]: [lower, upper] of the churn rate of customers in this score bin "
                "(validation Wilson interval at the stated confidence), extended to include churn_probability",
    "churn": "bool, shape [batch]: churn_probability >= the run's decision threshold",
}
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "scikit-learn", "pandas", "numpy", "google-cloud-aiplatform")


def input_signature() -> dict[str, tf.TensorSpec]:
    """One named 1-D tensor per raw feature: float32 numbers, strings for categories."""
    return {
        name: tf.TensorSpec([None], tf.float32 if schema.is_numeric(name) else tf.string, name=name)
        for name in schema.FEATURES
    }


def id_input_signature() -> dict[str, tf.TensorSpec]:
    """The raw features plus customerID (string), for `with_customer_id`."""
    return {**input_signature(), schema.ID_COLUMN: tf.TensorSpec([None], tf.string, name=schema.ID_COLUMN)}


def check_answer(answer: dict[str, Any]) -> None:
    """The answer table must hold a calibration, a threshold and an interval table."""
    missing = [key for key in ("calibration", "threshold", "edges", "lower", "upper") if key not in answer]
    if missing or answer["calibration"].get("method") != "platt":
        raise RunDirError(f"intervals.json lacks {', '.join(missing) or 'a Platt calibration'} "
                          "(made before calibrated exports): retrain the run with `churn train`")


def answer_graph(raw: tf.Tensor, answer: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Calibration, interval lookup and decision in float32 ops, from the raw sigmoid."""
    calibration = answer["calibration"]
    clip = float(calibration["clip"])
    clipped = tf.clip_by_value(raw, clip, 1.0 - clip)
    logit = tf.math.log(clipped) - tf.math.log1p(-clipped)
    probability = tf.sigmoid(tf.constant(calibration["slope"], tf.float32) * logit
                             + tf.constant(calibration["intercept"], tf.float32))
    inner_edges = tf.constant(answer["edges"][1:-1], tf.float32)
    slot = tf.searchsorted(inner_edges, probability, side="right")
    lower = tf.minimum(tf.gather(tf.constant(answer["lower"], tf.float32), slot), probability)
    upper = tf.maximum(tf.gather(tf.constant(answer["upper"], tf.float32), slot), probability)
    return {"churn_probability": probability, "raw_probability": raw,
            "interval": tf.stack([lower, upper], axis=1),
            "churn": probability >= tf.constant(answer["threshold"], tf.float32)}


def export_saved_model(model: keras.Model, directory: Path, answer: dict[str, Any]) -> Path:
    """Write the SavedModel (`serving_default` and `with_customer_id`) atomically into `directory`."""
    check_answer(answer)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def outputs(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        columns = {name: tf.reshape(features[name], (-1, 1)) for name in schema.FEATURES}
        return answer_graph(tf.reshape(model(columns, training=False), (-1,)), answer)

    serving = archive.add_endpoint(name=SIGNATURE, fn=outputs, input_signature=[input_signature()])

    def serve_with_id(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # Calls the traced serving function (one copy of the network's graph in the SavedModel,
        # traced once) and echoes the ids beside its answer.
        answer = serving({name: features[name] for name in schema.FEATURES})
        return {**answer, schema.ID_COLUMN: tf.identity(features[schema.ID_COLUMN])}

    archive.add_endpoint(name=ID_SIGNATURE, fn=serve_with_id, input_signature=[id_input_signature()])
    with atomic.staged_directory(Path(directory), overwrite=True) as staging:
        archive.write_out(str(staging), verbose=False)
    return Path(directory)


def export_numpy_engine(model: keras.Model, run_dir: Path, signature: Any = None) -> dict[str, Any]:
    """The server's TF-free engine file beside run_dir/model, verified against it (its
    `verification` record; RunDirError when the NumPy engine does not match). `signature`:
    run_dir/model's serving signature when the caller has loaded it already."""
    from pipeline.serving.engine_file import export_engine

    return export_engine(model, Path(run_dir), signature).as_dict()


def load_signature(directory: Path, name: str = SIGNATURE) -> Any:
    """A signature's concrete function (`serving_default` unless named) of an exported model."""
    if not (Path(directory) / "saved_model.pb").is_file():
        raise RunDirError(f"{directory}: no SavedModel here (run `churn export RUN_DIR` first)")
    signatures = tf.saved_model.load(str(directory)).signatures
    if name not in signatures:
        raise RunDirError(f"{directory}: the SavedModel has no {name!r} signature (re-export it: churn export RUN_DIR)")
    return signatures[name]


def signature_outputs(signature: Any, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of a loaded signature for 1-D feature arrays, OUTPUTS first, in that order."""
    feeds = {name: tf.constant(features[name], dtype=spec.dtype)
             for name, spec in signature.structured_input_signature[1].items()}
    answer = {name: value.numpy() for name, value in signature(**feeds).items()}
    return {**{name: answer.pop(name) for name in OUTPUTS if name in answer}, **answer}


def signature_predict(signature: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    """Churn probabilities (calibrated) from a loaded signature for 1-D feature arrays."""
    return signature_outputs(signature, features)[OUTPUT].reshape(-1)


def model_card(run_dir: Path, context: RunContext | None = None) -> dict[str, Any]:
    """What this model is, what it was trained on and how well it did."""
    metrics = atomic.read_json(run_dir / "metrics.json")
    answer = atomic.read_json(run_dir / "intervals.json") if (run_dir / "intervals.json").is_file() else {}
    return {
        "name": "churn",
        "run_id": context.run_id if context else run_dir.name,
        "created_at": context.created_at if context else dt.datetime.now(dt.timezone.utc).isoformat(),
        "description": "Probability that a telecom customer churns, from the Telco churn schema.",
        "architecture": architecture(RunDir(run_dir).config().train.hidden_units),
        "signature": {"name": SIGNATURE, "inputs": {n: s.dtype.name for n, s in input_signature().items()},
                      "outputs": dict(OUTPUT_DESCRIPTIONS)},
        "signatures": {
            SIGNATURE: {"inputs": "the raw features", "outputs": list(OUTPUTS)},
            ID_SIGNATURE: {"inputs": f"the raw features and {schema.ID_COLUMN} (string)",
                           "outputs": [*OUTPUTS, f"{schema.ID_COLUMN} (echoed)"]},
        },
        "calibration": answer.get("calibration"),
        "interval": {"method": answer.get("method"), "confidence": answer.get("confidence"),
                     "meaning": "churn rate of validation customers in the same calibrated-score bin "
                                "(Wilson interval), extended to include the instance's churn_probability"},
        "schema": {"numeric": {n: vars(schema.NUMERIC_RANGES[n]) for n in schema.NUMERIC_FEATURES},
                   "categorical": {n: list(v) for n, v in schema.CATEGORICAL_VALUES.items()},
                   "label": schema.LABEL_COLUMN},
        "metrics": metrics["test"],
        "threshold": metrics["threshold"],
        "data_fingerprint": atomic.read_json(run_dir / "data_fingerprint.json"),
        "package_versions": package_versions(),
        "git_commit": git_commit(),
        "intended_use": "Rank customers for retention outreach; not for decisions without human review.",
    }


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the model."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> str | None:
    """HEAD of the project checkout, when there is one."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def architecture(hidden_units: list[int]) -> str:
    """The network as the model card states it: the configured layers, not the article's."""
    dense = " -> ".join(f"Dense({units}, relu)" for units in hidden_units)
    return f"Normalization + StringLookup one-hot -> {dense} -> Dense(1, sigmoid); adam, binary cross-entropy"


def export_serving(model: keras.Model, run_dir: Path, answer: dict[str, Any]) -> Any:
    """What serving needs in run_dir: model/ (the SavedModel with the answer baked in) and the
    NumPy engine file verified against it, whichever way the model was trained. Returns the
    SavedModel's serving signature as loaded back from disk (what the engine was verified
    against), so evaluation can score through it without loading the SavedModel again."""
    export_saved_model(model, run_dir / "model", answer)
    signature = load_signature(run_dir / "model")
    export_numpy_engine(model, run_dir, signature)
    return signature


def export_run(run_dir: Path, context: RunContext | None = None) -> Path:
    """Re-export run_dir/model from run_dir/model.keras and intervals.json; rewrite model_card.json."""
    run_dir = Path(run_dir)
    source = run_dir / "model.keras"
    if not source.is_file():
        raise RunDirError(f"{run_dir}: no model.keras (is this a run directory made by `churn train`?)")
    answer_file = run_dir / "intervals.json"
    if not answer_file.is_file():
        raise RunDirError(f"{run_dir}: no intervals.json (the calibration and interval table to bake in)")
    model = keras.models.load_model(source)
    export_serving(model, run_dir, atomic.read_json(answer_file))
    atomic.write_json(run_dir / "model_card.json", model_card(run_dir, context))
    return run_dir / "model"
