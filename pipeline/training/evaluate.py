"""Evaluation: the same metrics for all three models on the test split, a decision
threshold chosen on validation data, plots and a self-contained HTML report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from pipeline.config import EvaluateConfig
from pipeline.core import atomic
from pipeline.core.records import RunContext

MODEL_NAMES = ("keras", "logistic_regression", "hist_gradient_boosting")
METRIC_NAMES = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier")
EPSILON = 1e-7


@dataclass(frozen=True)
class Scores:
    """Churn probabilities of every model on one set of rows, with the true labels."""

    labels: np.ndarray
    by_model: dict[str, np.ndarray]


@dataclass(frozen=True)
class Uncalibrated:
    """The network's raw sigmoid (before the SavedModel's calibration) on validation and test rows."""

    validation: np.ndarray
    test: np.ndarray


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """The eight reported metrics; threshold-dependent ones at `threshold`."""
    clipped = np.clip(scores, EPSILON, 1 - EPSILON)
    predicted = (scores >= threshold).astype(int)
    return {
        "roc_auc": float(skm.roc_auc_score(labels, scores)),
        "pr_auc": float(skm.average_precision_score(labels, scores)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, clipped, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(labels, scores)),
    }


def choose_threshold(labels: np.ndarray, scores: np.ndarray, config: EvaluateConfig) -> float:
    """Decision threshold from validation data: max F1 (default), Youden's J, or fixed."""
    if config.threshold_strategy == "fixed":
        return config.fixed_threshold
    if config.threshold_strategy == "youden":
        fpr, tpr, thresholds = skm.roc_curve(labels, scores)
        best = int(np.argmax(tpr - fpr))
        return float(np.clip(thresholds[best], EPSILON, 1 - EPSILON))
    precision, recall, thresholds = skm.precision_recall_curve(labels, scores)
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=(precision + recall) > 0)[:-1]
    return float(np.clip(thresholds[int(np.argmax(f1))], EPSILON, 1 - EPSILON))


def metrics_document(test: Scores, validation: Scores, config: EvaluateConfig, rows: int,
                     keras_threshold: float | None = None) -> dict[str, Any]:
    """metrics.json: test.<model>.<metric>, `threshold` (the Keras model's: the one its
    SavedModel holds when given), `rows`."""
    thresholds = {name: choose_threshold(validation.labels, validation.by_model[name], config)
                  for name in MODEL_NAMES}
    if keras_threshold is not None:
        thresholds["keras"] = float(keras_threshold)
    test_metrics = {name: classification_metrics(test.labels, test.by_model[name], thresholds[name])
                    for name in MODEL_NAMES}
    return metrics_layout(test_metrics, validation, thresholds, config, rows, len(test.labels))


def metrics_layout(test_metrics: dict[str, dict[str, float]], validation: Scores, thresholds: dict[str, float],
                   config: EvaluateConfig, rows: int, test_rows: int) -> dict[str, Any]:
    """metrics.json's common keys, in order, whether the test metrics were computed in memory
    or streamed: test.<model>.<metric>, validation ROC-AUC, thresholds, rows, split sizes."""
    return {
        "test": test_metrics,
        "validation": {name: {"roc_auc": float(skm.roc_auc_score(validation.labels, validation.by_model[name]))}
                       for name in MODEL_NAMES},
        "threshold": thresholds["keras"],
        "thresholds": thresholds,
        "threshold_strategy": config.threshold_strategy,
        "rows": int(rows),
        "split_rows": {"test": int(test_rows), "validation": int(len(validation.labels))},
    }


def write_evaluation(run_dir: Path, test: Scores, validation: Scores, config: EvaluateConfig,
                     context: RunContext, answer: dict[str, Any],
                     uncalibrated: Uncalibrated | None = None) -> dict[str, Any]:
    """Write metrics.json, plots/*.png and report.html into `run_dir`; `answer` is the
    calibration/threshold/interval table the SavedModel holds (intervals.json)."""
    from pipeline.training import intervals, plots, report

    document = metrics_document(test, validation, config, context.rows, answer.get("threshold"))
    coverage = intervals.interval_coverage(answer, test.by_model["keras"], test.labels)
    document["interval_coverage"] = {k: coverage[k] for k in ("bin_coverage", "row_coverage",
                                                              "inside_bin_coverage", "extended_rows")
                                     if coverage[k] is not None}
    if uncalibrated is not None:
        raw_threshold = choose_threshold(validation.labels, uncalibrated.validation, config)
        document["uncalibrated"] = {"keras": classification_metrics(test.labels, uncalibrated.test, raw_threshold),
                                    "threshold": raw_threshold}
    atomic.write_json(run_dir / "metrics.json", document)
    images = plots.write_plots(run_dir / "plots", test, document, dict(context.history), config)
    report.write_report(run_dir / "report.html", document, images, coverage, context)
    return document
