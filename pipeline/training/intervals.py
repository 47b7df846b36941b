"""Per-prediction intervals: where the churn rate of customers like this one lies.

At training time the calibrated validation scores are cut into quantile bins; each bin gets
the Wilson score interval (at `confidence`) of its observed churn rate, i.e. a confidence
interval for the true churn rate of customers whose probability falls in that bin. A
prediction's interval is its bin's, extended to include the prediction itself when the
prediction lies outside it (at the ends of a bin), so an interval always brackets its own
churn_probability. The table is baked into the SavedModel; intervals.json records it.

Checking it on the test split must allow for the test rate's own sampling noise: a bin's
observed test rate scatters around the true rate even when the interval is right, so
"observed rate inside the interval" covers less than `confidence` by construction (it was
~70% for 90% intervals on real data). The honest check asks whether the test rate is
consistent with the validation rate at the same level: |test - validation| within
z * sqrt(p (1 - p) (1 / n_validation + 1 / n_test)), p pooled. A correct table passes it in
about `confidence` of the bins; both numbers are in the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

METHOD = "wilson_per_calibrated_score_bin"


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion, elementwise."""
    z = _z(confidence)
    trials = np.maximum(trials, 1)
    rate = successes / trials
    denominator = 1 + z**2 / trials
    centre = (rate + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / denominator
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _float32(values: np.ndarray) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def fit_intervals(scores: np.ndarray, labels: np.ndarray, bins: int, confidence: float) -> dict[str, Any]:
    """Quantile bins of held-out scores with a Wilson interval per bin (JSON-ready; every
    number float32-representable, as the serving graph holds it)."""
    inner = np.unique(np.asarray(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]), dtype=np.float32))
    edges = np.concatenate([[0.0], inner.astype(np.float64), [1.0]])
    index = bin_index(scores, edges)
    counts = np.bincount(index, minlength=len(edges) - 1).astype(float)
    positives = np.bincount(index, weights=labels, minlength=len(edges) - 1)
    lower, upper = wilson_interval(positives, counts, confidence)
    return {
        "method": METHOD,
        "confidence": confidence,
        "edges": edges.tolist(),
        "lower": _float32(lower),
        "upper": _float32(upper),
        "counts": counts.astype(int).tolist(),
        "positives": positives.astype(int).tolist(),
    }


def bin_index(scores: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    """Which bin of `edges` each score falls in (last bin closed)."""
    edges = np.asarray(edges)
    return np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)


def intervals_for(scores: np.ndarray, table: dict[str, Any]) -> np.ndarray:
    """(n, 2) array of [lower, upper] for each score: its bin's interval, extended to the score."""
    scores = np.asarray(scores, dtype=float)
    index = bin_index(scores, table["edges"])
    lower = np.minimum(np.asarray(table["lower"])[index], scores)
    upper = np.maximum(np.asarray(table["upper"])[index], scores)
    return np.stack([lower, upper], axis=1)


def consistent_with_validation(table: dict[str, Any], positives: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per bin: is the test rate within the stated level of the validation rate, allowing
    for the sampling noise of both (two-sample normal test, Agresti-smoothed pooled rate)?"""
    val_counts = np.asarray(table["counts"], dtype=float)
    if "positives" in table:
        val_positives = np.asarray(table["positives"], dtype=float)
    else:  # tables written before positives were kept: the interval's midpoint rate
        val_positives = (np.asarray(table["lower"]) + np.asarray(table["upper"])) / 2 * val_counts
    pooled = (val_positives + positives + 1) / (val_counts + counts + 2)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(val_counts, 1) + 1 / np.maximum(counts, 1)))
    difference = np.abs(positives / np.maximum(counts, 1) - val_positives / np.maximum(val_counts, 1))
    return difference <= _z(float(table["confidence"])) * spread


def interval_coverage(table: dict[str, Any], scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Per bin of new labelled data: is its churn rate consistent with the table (the honest
    check, `covered`), and does it fall inside the interval itself (`inside`, optimistic
    about noise)? Also the share of rows whose interval was extended to include the score."""
    scores = np.asarray(scores, dtype=float)
    edges = np.asarray(table["edges"])
    index = bin_index(scores, edges)
    counts = np.bincount(index, minlength=len(edges) - 1)
    positives = np.bincount(index, weights=labels, minlength=len(edges) - 1)
    bounds = intervals_for(scores, table)
    extended = (bounds[:, 0] < np.asarray(table["lower"])[index]) | (bounds[:, 1] > np.asarray(table["upper"])[index])
    return coverage_from_counts(table, counts, positives, int(extended.sum()), len(scores))


def coverage_from_counts(table: dict[str, Any], counts: np.ndarray, positives: np.ndarray, extended_rows: int,
                         rows: int) -> dict[str, Any]:
    """interval_coverage from per-bin row and positive counts and the number of rows whose
    interval was extended (what a streaming evaluation accumulates)."""
    edges = np.asarray(table["edges"])
    counts = np.asarray(counts)
    positives = np.asarray(positives, dtype=float)
    observed = np.divide(positives, counts, out=np.full(len(counts), np.nan), where=counts > 0)
    inside = (observed >= np.asarray(table["lower"])) & (observed <= np.asarray(table["upper"]))
    covered = consistent_with_validation(table, positives, counts)
    populated = counts > 0

    def share(flags: np.ndarray, weights: np.ndarray) -> float | None:
        return float(weights[flags & populated].sum() / weights[populated].sum()) if weights[populated].sum() else None

    return {
        "bins": [
            {"low": float(edges[i]), "high": float(edges[i + 1]), "interval": [table["lower"][i], table["upper"][i]],
             "rows": int(counts[i]), "observed_rate": None if not populated[i] else float(observed[i]),
             "covered": bool(covered[i] and populated[i]), "inside": bool(inside[i])}
            for i in range(len(counts))
        ],
        "bin_coverage": share(covered, np.ones(len(counts))),
        "row_coverage": share(covered, counts.astype(float)),
        "inside_bin_coverage": share(inside, np.ones(len(counts))),
        "extended_rows": float(extended_rows / rows) if rows else None,
    }
