"""Evaluation plots (PNG): ROC, precision-recall, calibration, confusion matrix, loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, same output everywhere

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402

from pipeline.config import EvaluateConfig  # noqa: E402
from pipeline.core import atomic  # noqa: E402

LABELS = {"keras": "Keras network", "logistic_regression": "Logistic regression",
          "hist_gradient_boosting": "Gradient boosting"}
COLOURS = {"keras": "#1a73e8", "logistic_regression": "#e37400", "hist_gradient_boosting": "#188038"}


def write_plots(directory: Path, test: Any, document: dict[str, Any], history: dict[str, list[float]],
                config: EvaluateConfig) -> dict[str, Path]:
    """Draw every plot into `directory`; return {name: path}."""
    figures = {
        "roc": roc_figure(test),
        "precision_recall": pr_figure(test),
        "calibration": calibration_figure(test, config.calibration_bins),
        "confusion_matrix": confusion_figure(test, document["threshold"]),
    }
    if history.get("loss"):
        figures["loss"] = loss_figure(history)
    return {name: save_figure(figure, directory / f"{name}.png") for name, figure in figures.items()}


def save_figure(figure: Figure, path: Path) -> Path:
    """PNG bytes written atomically; the figure is closed."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return atomic.write_bytes(path, buffer.getvalue())


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    figure, axes = plt.subplots(figsize=(5.2, 4.2))
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def roc_figure(test: Any) -> Figure:
    figure, axes = _axes("ROC curve (test split)", "False positive rate", "True positive rate")
    for name, scores in test.by_model.items():
        fpr, tpr, _ = skm.roc_curve(test.labels, scores)
        auc = skm.roc_auc_score(test.labels, scores)
        axes.plot(fpr, tpr, color=COLOURS[name], label=f"{LABELS[name]} (AUC {auc:.3f})")
    axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    axes.legend(loc="lower right")
    return figure


def pr_figure(test: Any) -> Figure:
    figure, axes = _axes("Precision-recall curve (test split)", "Recall", "Precision")
    for name, scores in test.by_model.items():
        precision, recall, _ = skm.precision_recall_curve(test.labels, scores)
        ap = skm.average_precision_score(test.labels, scores)
        axes.plot(recall, precision, color=COLOURS[name], label=f"{LABELS[name]} (AP {ap:.3f})")
    axes.axhline(test.labels.mean(), ls="--", color="grey", lw=1, label="Base rate")
    axes.legend(loc="upper right")
    return figure


def calibration_figure(test: Any, bins: int) -> Figure:
    figure, axes = _axes("Calibration (test split)", "Mean predicted probability", "Observed churn rate")
    for name, scores in test.by_model.items():
        observed, predicted = calibration_curve(test.labels, scores, n_bins=bins, strategy="quantile")
        axes.plot(predicted, observed, marker="o", ms=3, color=COLOURS[name], label=LABELS[name])
    axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="Perfectly calibrated")
    axes.legend(loc="upper left")
    return figure


def confusion_figure(test: Any, threshold: float) -> Figure:
    matrix = skm.confusion_matrix(test.labels, (test.by_model["keras"] >= threshold).astype(int), labels=[0, 1])
    return confusion_matrix_figure(matrix, threshold)


def confusion_matrix_figure(matrix: np.ndarray, threshold: float) -> Figure:
    """The Keras model's 2x2 confusion matrix (rows actual, columns predicted) as a figure."""
    figure, axes = plt.subplots(figsize=(4.2, 3.8))
    axes.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        axes.text(col, row, f"{value:,}", ha="center", va="center", color=colour, fontsize=13)
    axes.set(title=f"Keras confusion matrix (threshold {threshold:.2f})", xlabel="Predicted",
             ylabel="Actual", xticks=[0, 1], yticks=[0, 1],
             xticklabels=["Stays", "Churns"], yticklabels=["Stays", "Churns"])
    return figure


def loss_figure(history: dict[str, list[float]]) -> Figure:
    figure, axes = _axes("Keras training history", "Epoch", "Binary cross-entropy")
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], marker="o", ms=3, label="Training loss")
    if history.get("val_loss"):
        axes.plot(epochs, history["val_loss"], marker="o", ms=3, label="Validation loss")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    return figure
