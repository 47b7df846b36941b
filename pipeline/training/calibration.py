"""The answer table: what the SavedModel adds to the network's own sigmoid, fit on the
validation split and baked into the serving graph (pipeline.training.export).

Calibration is Platt scaling: p = sigmoid(slope * logit(raw) + intercept). Chosen over
isotonic regression because two parameters fit robustly on the few hundred validation rows a
small customer base gives, the map is strictly increasing (the ranking, hence ROC-AUC, is
unchanged), it never answers exactly 0 or 1 (log loss stays finite), and it has no flat
steps, so a probability never sits exactly on the decision threshold or a bin edge where the
float32 graph and the float64 NumPy engine could disagree.

The decision threshold is chosen on the calibrated validation scores; the interval table is
fit on them too (pipeline.training.intervals). Every number of the table is rounded to
float32 here, so the graph (float32) and the NumPy engine compare against the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the server imports `calibrate` alone: no config, scipy or scikit-learn at import
    from pipeline.config import EvaluateConfig

CLIP = 1e-6  # raw scores are clipped into [CLIP, 1 - CLIP] before the logit (float32-safe)
IDENTITY = {"method": "none"}


def as_float32(value: Any) -> Any:
    """The float64 value(s) nearest the float32 the graph will hold."""
    rounded = np.asarray(value, dtype=np.float32).astype(np.float64)
    return float(rounded) if rounded.ndim == 0 else rounded


def logit(raw: np.ndarray) -> np.ndarray:
    # np.minimum/np.maximum: what np.clip computes, without its Python wrapper (the server calls this per request)
    clipped = np.minimum(np.maximum(np.asarray(raw, dtype=np.float64), CLIP), 1 - CLIP)
    return np.log(clipped) - np.log1p(-clipped)


def fit_platt(raw: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Platt scaling of raw validation scores (nearly unregularised logistic fit on the logit)."""
    from sklearn.linear_model import LogisticRegression  # not at import: the server calibrates without it

    fitted = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    fitted.fit(logit(raw).reshape(-1, 1), np.asarray(labels).astype(int))
    return {"method": "platt", "slope": as_float32(fitted.coef_[0, 0]),
            "intercept": as_float32(fitted.intercept_[0]), "clip": CLIP}


def calibrate(raw: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """Calibrated probabilities (float64) for raw scores; identity for tables made before calibration."""
    if not calibration or calibration.get("method", "none") == "none":
        return np.asarray(raw, dtype=np.float64)
    if calibration["method"] != "platt":
        raise ValueError(f"calibration method {calibration['method']!r}: expected 'platt'")
    z = float(calibration["slope"]) * logit(raw) + float(calibration["intercept"])
    return 1.0 / (1.0 + np.exp(-z))


def fit_answer(raw: np.ndarray, labels: np.ndarray, config: EvaluateConfig) -> dict[str, Any]:
    """Calibration, decision threshold and interval table from the raw validation scores:
    the record written to intervals.json and baked into the SavedModel."""
    from pipeline.training import intervals
    from pipeline.training.evaluate import choose_threshold

    calibration = fit_platt(raw, labels)
    calibrated = calibrate(raw, calibration)
    table = intervals.fit_intervals(calibrated, labels, config.calibration_bins, config.interval_confidence)
    return {**table, "calibration": calibration,
            "threshold": as_float32(choose_threshold(labels, calibrated, config))}
