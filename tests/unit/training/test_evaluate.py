"""Thresholds, metrics and intervals on hand-made scores: no trained model needed."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import EvaluateConfig
from pipeline.training.evaluate import METRIC_NAMES, choose_threshold, classification_metrics
from pipeline.training.intervals import bin_index, fit_intervals, interval_coverage, wilson_interval

LABELS = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
SCORES = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8, 0.9])


def test_max_f1_threshold_separates_the_classes_it_can() -> None:
    threshold = choose_threshold(LABELS, SCORES, EvaluateConfig())
    assert threshold == pytest.approx(0.35)  # recall 1.0, precision 5/6: the best F1 here


def test_youden_and_fixed_thresholds() -> None:
    # J = TPR - FPR is 0.8 at 0.6 (0.8 - 0) and at 0.35 (1.0 - 0.2): the higher threshold wins the tie
    assert choose_threshold(LABELS, SCORES, EvaluateConfig(threshold_strategy="youden")) == pytest.approx(0.6)
    fixed = EvaluateConfig(threshold_strategy="fixed", fixed_threshold=0.25)
    assert choose_threshold(LABELS, SCORES, fixed) == 0.25


def test_metrics_at_a_threshold() -> None:
    metrics = classification_metrics(LABELS, SCORES, 0.5)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["accuracy"] == pytest.approx(0.9) and metrics["precision"] == 1.0
    assert metrics["recall"] == pytest.approx(0.8) and metrics["roc_auc"] == pytest.approx(24 / 25)
    assert all(np.isfinite(list(metrics.values())))


def test_log_loss_stays_finite_on_certain_wrong_scores() -> None:
    metrics = classification_metrics(np.array([0, 1]), np.array([1.0, 0.0]), 0.5)
    assert np.isfinite(metrics["log_loss"]) and metrics["accuracy"] == 0.0


def test_wilson_interval_brackets_the_rate() -> None:
    lower, upper = wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]), 0.9)
    assert lower[0] == 0 and upper[2] == 1
    assert lower[1] < 0.5 < upper[1] and upper[1] - lower[1] < 0.6


def test_intervals_cover_their_own_validation_rates() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 4000)
    labels = (rng.uniform(0, 1, 4000) < scores).astype(int)  # calibrated by construction
    table = fit_intervals(scores, labels, 10, 0.9)
    assert table["edges"][0] == 0.0 and table["edges"][-1] == 1.0 and len(table["lower"]) == 10
    assert bin_index(np.array([0.0, 1.0]), table["edges"]).tolist() == [0, 9]
    coverage = interval_coverage(table, scores, labels)
    assert coverage["bin_coverage"] == 1.0
