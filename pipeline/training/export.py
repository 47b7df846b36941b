"""Export: a SavedModel that takes raw features and answers `churn_probability`, plus a
model card. The same SavedModel is what Vertex AI's prebuilt TF serving image loads."""

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
from pipeline.errors import RunDirError
from pipeline.training import schema

SIGNATURE = "serving_default"
OUTPUT = "churn_probability"
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "scikit-learn", "pandas", "numpy", "google-cloud-aiplatform")


def input_signature() -> dict[str, tf.TensorSpec]:
    """One named 1-D tensor per raw feature: float32 numbers, strings for categories."""
    return {
        name: tf.TensorSpec([None], tf.float32 if schema.is_numeric(name) else tf.string, name=name)
        for name in schema.FEATURES
    }


def export_saved_model(model: keras.Model, directory: Path) -> Path:
    """Write the `serving_default` SavedModel atomically into `directory`."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        columns = {name: tf.reshape(value, (-1, 1)) for name, value in features.items()}
        return {OUTPUT: tf.reshape(model(columns, training=False), (-1,))}

    archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[input_signature()])
    with atomic.staged_directory(Path(directory), overwrite=True) as staging:
        archive.write_out(str(staging), verbose=False)
    return Path(directory)


def load_signature(directory: Path) -> Any:
    """The `serving_default` concrete function of an exported model."""
    if not (Path(directory) / "saved_model.pb").is_file():
        raise RunDirError(f"{directory}: no SavedModel here (run `churn export RUN_DIR` first)")
    return tf.saved_model.load(str(directory)).signatures[SIGNATURE]


def signature_predict(signature: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    """Churn probabilities from a loaded signature for 1-D feature arrays."""
    feeds = {name: tf.constant(features[name], dtype=spec.dtype)
             for name, spec in signature.structured_input_signature[1].items()}
    return signature(**feeds)[OUTPUT].numpy().reshape(-1)


def model_card(run_dir: Path, context: dict[str, Any]) -> dict[str, Any]:
    """What this model is, what it was trained on and how well it did."""
    metrics = atomic.read_json(run_dir / "metrics.json")
    return {
        "name": "churn",
        "run_id": run_dir.name if not run_dir.name.startswith(".") else context.get("run_id"),
        "created_at": context.get("created_at", dt.datetime.now(dt.timezone.utc).isoformat()),
        "description": "Probability that a telecom customer churns, from the Telco churn schema.",
        "architecture": "Normalization + StringLookup one-hot -> Dense(64, relu) -> Dense(32, relu) "
                        "-> Dense(1, sigmoid); adam, binary cross-entropy",
        "signature": {"name": SIGNATURE, "inputs": {n: s.dtype.name for n, s in input_signature().items()},
                      "outputs": {OUTPUT: "float32, shape [batch]"}},
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


def export_run(run_dir: Path, context: dict[str, Any] | None = None) -> Path:
    """Re-export run_dir/model from run_dir/model.keras and rewrite model_card.json."""
    run_dir = Path(run_dir)
    source = run_dir / "model.keras"
    if not source.is_file():
        raise RunDirError(f"{run_dir}: no model.keras (is this a run directory made by `churn train`?)")
    export_saved_model(keras.models.load_model(source), run_dir / "model")
    atomic.write_json(run_dir / "model_card.json", model_card(run_dir, context or {}))
    return run_dir / "model"
