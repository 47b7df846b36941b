"""The one offline scorer: a model's SavedModel, through its serving signature, on a validated
frame. Evaluation of registered models, monitoring with labels, the retrain gate and the
TensorFlow 2.15 compatibility check all score through here, so they score what is served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipeline.backends.base import LocalModel

BATCH_ROWS = 50_000


def offline_outputs(model_dir: Path, signature: Any = None) -> Callable[[pd.DataFrame], dict[str, np.ndarray]]:
    """Load the SavedModel in `model_dir` once (or take its loaded `serving_default`
    signature); the result gives every output of it (churn_probability, raw_probability,
    interval, churn) for validated frames."""
    from pipeline.training import data, export

    if signature is None:
        signature = export.load_signature(Path(model_dir))

    def outputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        parts = [export.signature_outputs(signature, data.features_of(frame.iloc[start:start + BATCH_ROWS]))
                 for start in range(0, len(frame), BATCH_ROWS)]
        if not parts:
            return {"churn_probability": np.empty(0, np.float32), "raw_probability": np.empty(0, np.float32),
                    "interval": np.empty((0, 2), np.float32), "churn": np.empty(0, bool)}
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    return outputs


def offline_scorer(model_dir: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    """Load the SavedModel in `model_dir` once; the result gives calibrated churn
    probabilities (the served `churn_probability`) for validated frames."""
    outputs = offline_outputs(model_dir)
    return lambda frame: outputs(frame)["churn_probability"]


def saved_model_scores(model_dir: Path, frame: pd.DataFrame) -> np.ndarray:
    """Churn probabilities of the SavedModel in `model_dir` for a validated frame."""
    return offline_scorer(model_dir)(frame)


def holdout_metrics(model: LocalModel, score: Callable[[pd.DataFrame], np.ndarray],
                    holdout: pd.DataFrame) -> dict[str, float]:
    """A model's metrics on labelled rows (scored by `score`, its offline scorer), at the
    model's own stored decision threshold."""
    from pipeline.core.rundir import RunDir
    from pipeline.training import data
    from pipeline.training.evaluate import classification_metrics

    threshold = RunDir(model.source_dir).threshold()
    return classification_metrics(data.labels_of(holdout), score(holdout), threshold)
