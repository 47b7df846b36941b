"""The answer table (Platt calibration, threshold, intervals) and the honest coverage check,
on hand-made scores: no trained model needed."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import EvaluateConfig
from pipeline.training.calibration import as_float32, calibrate, fit_answer, fit_platt
from pipeline.training.evaluate import classification_metrics
from pipeline.training.intervals import fit_intervals, interval_coverage, intervals_for


def overconfident(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true rates, scores pushed away from them (a miscalibrated network)."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.02, 0.9, rows)
    labels = (rng.uniform(0, 1, rows) < true).astype(int)
    logit = np.log(true / (1 - true))
    return (1 / (1 + np.exp(-(2.5 * logit - 1.0)))).astype(np.float32), labels


def test_platt_recovers_the_distortion_and_improves_log_loss() -> None:
    raw, labels = overconfident(5000, 0)
    calibration = fit_platt(raw, labels)
    assert calibration["slope"] == pytest.approx(0.4, abs=0.05)  # inverts 2.5 x logit - 1
    test_raw, test_labels = overconfident(5000, 1)
    before = classification_metrics(test_labels, test_raw, 0.5)
    after = classification_metrics(test_labels, calibrate(test_raw, calibration), 0.5)
    assert after["log_loss"] < before["log_loss"] and after["brier"] < before["brier"]
    assert after["roc_auc"] == pytest.approx(before["roc_auc"], abs=1e-9)  # strictly increasing map


def test_answer_table_is_float32_and_its_threshold_is_calibrated() -> None:
    raw, labels = overconfident(2000, 2)
    answer = fit_answer(raw, labels, EvaluateConfig())
    for key in ("edges", "lower", "upper"):
        assert answer[key] == as_float32(np.asarray(answer[key])).tolist()
    assert answer["threshold"] == as_float32(answer["threshold"])
    calibrated = calibrate(raw, answer["calibration"])
    assert calibrated.min() <= answer["threshold"] <= calibrated.max() and 0 < answer["threshold"] < 1


def test_identity_calibration_for_tables_without_one() -> None:
    raw = np.array([0.1, 0.7])
    assert calibrate(raw, None).tolist() == [0.1, 0.7] and calibrate(raw, {"method": "none"}).tolist() == [0.1, 0.7]
    with pytest.raises(ValueError, match="isotonic"):
        calibrate(raw, {"method": "isotonic"})


def test_every_interval_brackets_its_probability() -> None:
    rng = np.random.default_rng(3)
    table = fit_intervals(rng.uniform(0.3, 0.6, 300), rng.integers(0, 2, 300), 5, 0.9)
    scores = np.concatenate([rng.uniform(0, 1, 5000), np.asarray(table["edges"]), [0.0, 1.0]])
    bounds = intervals_for(scores, table)
    assert np.all(bounds[:, 0] <= scores) and np.all(scores <= bounds[:, 1])
    assert np.any(bounds[:, 0] == scores)  # extended where the bin's interval missed the score


def test_noise_aware_coverage_is_near_its_stated_level() -> None:
    """A correct table: same true rates on validation and test. The naive check ("the test
    rate inside the interval") falls well short of 90% because of the test rate's own noise;
    the noise-aware check is close to 90%."""
    consistent, inside = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        scores = rng.uniform(0, 1, 6000)
        labels = (rng.uniform(0, 1, 6000) < scores).astype(int)
        table = fit_intervals(scores[:3000], labels[:3000], 10, 0.9)
        coverage = interval_coverage(table, scores[3000:], labels[3000:])
        consistent.append(coverage["bin_coverage"])
        inside.append(coverage["inside_bin_coverage"])
    assert 0.85 <= np.mean(consistent) <= 0.95
    assert np.mean(inside) < np.mean(consistent) - 0.1


def test_coverage_flags_a_shifted_rate() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(0, 1, 4000)
    table = fit_intervals(scores, (rng.uniform(0, 1, 4000) < scores).astype(int), 10, 0.9)
    shifted = (rng.uniform(0, 1, 4000) < np.clip(scores + 0.25, 0, 1)).astype(int)
    assert interval_coverage(table, scores, shifted)["bin_coverage"] < 0.5
