"""Evaluation in bounded memory for the streaming path: the same metrics.json, plots and
report as pipeline.training.evaluate, from accumulators fed chunk by chunk.

Exact: accuracy, precision, recall and F1 at the chosen threshold, log loss, Brier score,
interval coverage (per-bin counts). Binned: ROC-AUC and PR-AUC (average precision) from
histograms of each class's scores in BINS equal-width bins of [0, 1]; rows in one bin count
as tied (what sklearn does with equal scores), so the error is bounded by the pairs that share
a bin (measured: < 1e-4 against sklearn on the test suite's data). The curves are drawn from
the same histograms with at most CURVE_POINTS points. Thresholds are chosen on the validation
sample (train.validation_sample_rows rows) before the test pass, so they are known when the
threshold metrics are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pipeline.config import EvaluateConfig
from pipeline.training import intervals, plots
from pipeline.training.evaluate import EPSILON, MODEL_NAMES, Scores, choose_threshold

BINS = 1 << 16
CURVE_POINTS = 512


@dataclass
class BinnedScores:
    """One model's scores on one split, accumulated."""

    threshold: float
    positives: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    negatives: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    score_sums: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((2, 2), np.int64))  # [actual, predicted]
    log_loss_sum: float = 0.0
    brier_sum: float = 0.0

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        labels = np.asarray(labels).astype(np.int64)
        slot = np.clip((scores * BINS).astype(np.int64), 0, BINS - 1)
        self.positives += np.bincount(slot[labels == 1], minlength=BINS)
        self.negatives += np.bincount(slot[labels == 0], minlength=BINS)
        self.score_sums += np.bincount(slot, weights=scores, minlength=BINS)
        predicted = (scores >= self.threshold).astype(np.int64)
        self.confusion += np.bincount(labels * 2 + predicted, minlength=4).reshape(2, 2)
        clipped = np.clip(scores, EPSILON, 1 - EPSILON)
        self.log_loss_sum -= float(np.sum(np.where(labels == 1, np.log(clipped), np.log1p(-clipped))))
        self.brier_sum += float(np.sum((scores - labels) ** 2))

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    def roc_auc(self) -> float:
        pos, neg = self.positives[::-1], self.negatives[::-1]  # highest scores first
        above = np.cumsum(pos) - pos
        return float(np.sum(neg * (above + pos / 2)) / (pos.sum() * neg.sum()))

    def average_precision(self) -> float:
        pos, neg = self.positives[::-1], self.negatives[::-1]
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        taken = pos > 0
        return float(np.sum(pos[taken] / pos.sum() * tp[taken] / (tp[taken] + fp[taken])))

    def metrics(self) -> dict[str, float]:
        """classification_metrics' eight figures."""
        (tn, fp), (fn, tp) = self.confusion.tolist()
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return {
            "roc_auc": self.roc_auc(),
            "pr_auc": self.average_precision(),
            "accuracy": (tp + tn) / self.rows,
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
            "log_loss": self.log_loss_sum / self.rows,
            "brier": self.brier_sum / self.rows,
        }

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fpr, tpr, precision-recall pairs) at CURVE_POINTS thresholds, highest first."""
        groups = BINS // CURVE_POINTS
        pos = self.positives.reshape(CURVE_POINTS, groups).sum(axis=1)[::-1]
        neg = self.negatives.reshape(CURVE_POINTS, groups).sum(axis=1)[::-1]
        tp, fp = np.concatenate([[0], np.cumsum(pos)]), np.concatenate([[0], np.cumsum(neg)])
        return fp / max(fp[-1], 1), tp / max(tp[-1], 1), np.divide(tp, tp + fp, out=np.ones(tp.size),
                                                                   where=(tp + fp) > 0)

    def calibration(self, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean predicted, observed rate) in `bins` groups of about equal rows (quantiles)."""
        total = self.positives + self.negatives
        cumulative = np.cumsum(total)
        group = np.minimum((cumulative - total / 2) * bins // max(cumulative[-1], 1), bins - 1).astype(int)
        rows = np.bincount(group, weights=total, minlength=bins)
        observed = np.bincount(group, weights=self.positives, minlength=bins)
        predicted = np.bincount(group, weights=self.score_sums, minlength=bins)
        kept = rows > 0
        return predicted[kept] / rows[kept], observed[kept] / rows[kept]


class CoverageCounts:
    """Per-bin rows and positives of the interval table, and rows whose interval was extended."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        bins = len(table["edges"]) - 1
        self.counts, self.positives = np.zeros(bins, np.int64), np.zeros(bins)
        self.extended = self.rows = 0

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=float)
        index = intervals.bin_index(scores, self.table["edges"])
        self.counts += np.bincount(index, minlength=self.counts.size)
        self.positives += np.bincount(index, weights=labels, minlength=self.counts.size)
        self.extended += int(((scores < np.asarray(self.table["lower"])[index])
                              | (scores > np.asarray(self.table["upper"])[index])).sum())
        self.rows += scores.size

    def result(self) -> dict[str, Any]:
        return intervals.coverage_from_counts(self.table, self.counts, self.positives, self.extended, self.rows)


class TestAccumulator:
    """Everything the test split contributes to metrics.json, fed chunk by chunk."""

    def __init__(self, thresholds: dict[str, float], raw_threshold: float, answer: dict[str, Any]) -> None:
        self.models = {name: BinnedScores(thresholds[name]) for name in MODEL_NAMES}
        self.raw = BinnedScores(raw_threshold)
        self.coverage = CoverageCounts(answer)

    def add(self, labels: np.ndarray, by_model: dict[str, np.ndarray], raw: np.ndarray) -> None:
        for name, scores in by_model.items():
            self.models[name].add(scores, labels)
        self.raw.add(raw, labels)
        self.coverage.add(by_model["keras"], labels)


def validation_thresholds(validation: Scores, raw: np.ndarray, config: EvaluateConfig,
                          keras_threshold: float) -> tuple[dict[str, float], float]:
    """Each model's threshold (the network's: its SavedModel's) and the raw sigmoid's."""
    thresholds = {name: choose_threshold(validation.labels, validation.by_model[name], config) for name in MODEL_NAMES}
    thresholds["keras"] = float(keras_threshold)
    return thresholds, choose_threshold(validation.labels, raw, config)


def metrics_document(test: TestAccumulator, validation: Scores, config: EvaluateConfig, rows: int
                     ) -> dict[str, Any]:
    """metrics.json with evaluate.write_evaluation's keys, in its order."""
    from pipeline.training.evaluate import metrics_layout

    thresholds = {name: binned.threshold for name, binned in test.models.items()}
    coverage = test.coverage.result()
    document = metrics_layout({name: test.models[name].metrics() for name in MODEL_NAMES}, validation,
                              thresholds, config, rows, test.models["keras"].rows)
    document["interval_coverage"] = {k: coverage[k] for k in ("bin_coverage", "row_coverage", "inside_bin_coverage",
                                                              "extended_rows") if coverage[k] is not None}
    document["uncalibrated"] = {"keras": test.raw.metrics(), "threshold": test.raw.threshold}
    return document


def write_plots(directory: Path, test: TestAccumulator, document: dict[str, Any], history: dict[str, list[float]],
                config: EvaluateConfig) -> dict[str, Path]:
    """plots.write_plots' figures, drawn from the binned curves."""
    figures = {"roc": _roc(test), "precision_recall": _pr(test), "calibration": _calibration(test, config),
               "confusion_matrix": _confusion(test, document["threshold"])}
    if history.get("loss"):
        figures["loss"] = plots.loss_figure(history)
    return {name: plots.save_figure(figure, directory / f"{name}.png") for name, figure in figures.items()}


def _roc(test: TestAccumulator) -> Figure:
    figure, axes = plots._axes("ROC curve (test split)", "False positive rate", "True positive rate")
    for name, binned in test.models.items():
        fpr, tpr, _ = binned.curve()
        axes.plot(fpr, tpr, color=plots.COLOURS[name], label=f"{plots.LABELS[name]} (AUC {binned.roc_auc():.3f})")
    axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    axes.legend(loc="lower right")
    return figure


def _pr(test: TestAccumulator) -> Figure:
    figure, axes = plots._axes("Precision-recall curve (test split)", "Recall", "Precision")
    base_rate = 0.0
    for name, binned in test.models.items():
        _, recall, precision = binned.curve()
        axes.plot(recall, precision, color=plots.COLOURS[name],
                  label=f"{plots.LABELS[name]} (AP {binned.average_precision():.3f})")
        base_rate = binned.positives.sum() / max(binned.rows, 1)
    axes.axhline(base_rate, ls="--", color="grey", lw=1, label="Base rate")
    axes.legend(loc="upper right")
    return figure


def _calibration(test: TestAccumulator, config: EvaluateConfig) -> Figure:
    figure, axes = plots._axes("Calibration (test split)", "Mean predicted probability", "Observed churn rate")
    for name, binned in test.models.items():
        predicted, observed = binned.calibration(config.calibration_bins)
        axes.plot(predicted, observed, marker="o", ms=3, color=plots.COLOURS[name], label=plots.LABELS[name])
    axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="Perfectly calibrated")
    axes.legend(loc="upper left")
    return figure


def _confusion(test: TestAccumulator, threshold: float) -> Figure:
    from pipeline.training.plots import confusion_matrix_figure

    return confusion_matrix_figure(test.models["keras"].confusion, threshold)
