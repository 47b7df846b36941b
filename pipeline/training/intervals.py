"""Calibrated confidence intervals for each prediction, for auditing.

At training time the held-out validation scores are cut into quantile bins; each bin gets a
Wilson score interval for its observed churn rate. A prediction's interval is its bin's:
where the model says 0.7, customers like this one churned between lo and hi of the time.
Coverage is checked on the test split and shown in the evaluation report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion, elementwise."""
    z = norm.ppf(0.5 + confidence / 2)
    trials = np.maximum(trials, 1)
    rate = successes / trials
    denominator = 1 + z**2 / trials
    centre = (rate + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / denominator
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def fit_intervals(scores: np.ndarray, labels: np.ndarray, bins: int, confidence: float) -> dict[str, Any]:
    """Quantile bins of held-out scores with a Wilson interval per bin (JSON-ready)."""
    inner = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = np.concatenate([[0.0], inner, [1.0]])
    index = bin_index(scores, edges)
    counts = np.bincount(index, minlength=len(edges) - 1).astype(float)
    positives = np.bincount(index, weights=labels, minlength=len(edges) - 1)
    lower, upper = wilson_interval(positives, counts, confidence)
    return {
        "method": "wilson_per_score_bin",
        "confidence": confidence,
        "edges": edges.tolist(),
        "lower": lower.tolist(),
        "upper": upper.tolist(),
        "counts": counts.astype(int).tolist(),
    }


def bin_index(scores: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    """Which bin of `edges` each score falls in (last bin closed)."""
    edges = np.asarray(edges)
    return np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)


def intervals_for(scores: np.ndarray, table: dict[str, Any]) -> np.ndarray:
    """(n, 2) array of [lower, upper] for each score."""
    index = bin_index(np.asarray(scores, dtype=float), table["edges"])
    return np.stack([np.asarray(table["lower"])[index], np.asarray(table["upper"])[index]], axis=1)


def interval_coverage(table: dict[str, Any], scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Per bin: does the observed churn rate on new data fall inside the stored interval?"""
    edges = np.asarray(table["edges"])
    index = bin_index(scores, edges)
    counts = np.bincount(index, minlength=len(edges) - 1)
    positives = np.bincount(index, weights=labels, minlength=len(edges) - 1)
    observed = np.divide(positives, counts, out=np.full(len(counts), np.nan), where=counts > 0)
    inside = (observed >= np.asarray(table["lower"])) & (observed <= np.asarray(table["upper"]))
    populated = counts > 0
    return {
        "bins": [
            {"low": float(edges[i]), "high": float(edges[i + 1]), "interval": [table["lower"][i], table["upper"][i]],
             "rows": int(counts[i]), "observed_rate": None if not populated[i] else float(observed[i]),
             "covered": bool(inside[i])}
            for i in range(len(counts))
        ],
        "bin_coverage": float(inside[populated].mean()) if populated.any() else None,
        "row_coverage": float(counts[inside].sum() / counts.sum()) if counts.sum() else None,
    }
