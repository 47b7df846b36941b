"""The two statistics of Vertex AI Model Monitoring v1, as TensorFlow Data Validation computes them.

Numeric features: Jensen-Shannon divergence (log base 2, in [0, 1]) between the two data
sets' STANDARD histograms, each over its own range, after aligning them on the union of
their bucket edges (tensorflow_data_validation/anomalies/metrics.cc, JensenShannonDivergence
and AlignHistograms). Categorical features: L-infinity distance between the frequency
vectors over the union of categories. Both take raw counts: normalising here keeps callers
from mixing counts and frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JENSEN_SHANNON = "jensen_shannon"
L_INFINITY = "l_infinity"


@dataclass(frozen=True)
class AlignedHistograms:
    """Two histograms on shared buckets: the union-of-edges intervals, then point masses."""

    labels: list[str]
    reference: np.ndarray
    current: np.ndarray


def js_divergence(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence, base 2, of two aligned count vectors (in [0, 1]).

    This is the divergence, i.e. scipy's `jensenshannon(p, q, base=2) ** 2`.
    """
    p = _probabilities(reference_counts)
    q = _probabilities(current_counts)
    m = (p + q) / 2
    value = 0.5 * _kl_bits(p, m) + 0.5 * _kl_bits(q, m)
    return float(min(max(value, 0.0), 1.0))  # TFDV caps at 1.0 too (float round-off)


def histogram_js(reference: tuple[np.ndarray, np.ndarray],
                 current: tuple[np.ndarray, np.ndarray]) -> float | None:
    """TFDV's Jensen-Shannon divergence of two contiguous histograms given as (edges, counts).

    None where TFDV reports no value: a histogram without buckets or without mass.
    """
    aligned = align_histograms(reference, current)
    if aligned.reference.sum() <= 0 or aligned.current.sum() <= 0:
        return None
    return js_divergence(aligned.reference, aligned.current)


def align_histograms(reference: tuple[np.ndarray, np.ndarray],
                     current: tuple[np.ndarray, np.ndarray]) -> AlignedHistograms:
    """TFDV's AlignHistograms: zero-width (point) buckets are set aside; the other buckets of
    both histograms are re-cut on the union of their edges, each bucket's count spread over
    its new pieces in proportion to their width; then one shared bucket per point value."""
    ref_low, ref_high, ref_counts, ref_points = _split_points(*reference)
    cur_low, cur_high, cur_counts, cur_points = _split_points(*current)
    boundaries = np.union1d(np.union1d(ref_low, ref_high), np.union1d(cur_low, cur_high))
    pieces = [_rebucket(ref_low, ref_high, ref_counts, boundaries),
              _rebucket(cur_low, cur_high, cur_counts, boundaries)]
    points = sorted(set(ref_points) | set(cur_points))
    labels = [f"{low:.4g}-{high:.4g}" for low, high in zip(boundaries[:-1], boundaries[1:], strict=True)]
    labels += [f"={value:.4g}" for value in points]
    ref_all = np.concatenate([pieces[0], [ref_points.get(value, 0.0) for value in points]])
    cur_all = np.concatenate([pieces[1], [cur_points.get(value, 0.0) for value in points]])
    return AlignedHistograms(labels, ref_all, cur_all)


def _split_points(edges: np.ndarray, counts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[float, float]]:
    """Non-point buckets as (low, high, count) arrays, and point buckets as value -> count."""
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size == 0:
        empty = np.empty(0)
        return empty, empty, empty, {}
    low, high = edges[:-1], edges[1:]
    point = low == high
    points: dict[float, float] = {}
    for value, count in zip(low[point].tolist(), counts[point].tolist(), strict=True):
        points[value] = points.get(value, 0.0) + count
    return low[~point], high[~point], counts[~point], points


def _rebucket(low: np.ndarray, high: np.ndarray, counts: np.ndarray,
              boundaries: np.ndarray) -> np.ndarray:
    """Counts on each interval between consecutive `boundaries` (which hold every edge of
    this histogram, so an interval lies inside one bucket or outside all of them)."""
    if boundaries.size < 2:
        return np.empty(0)
    starts, ends = boundaries[:-1], boundaries[1:]
    if low.size == 0:
        return np.zeros(starts.size)
    bucket = np.minimum(np.searchsorted(high, ends, side="left"), low.size - 1)
    inside = (low[bucket] <= starts) & (ends <= high[bucket])
    share = (ends - starts) / (high[bucket] - low[bucket]) * counts[bucket]
    return np.where(inside, share, 0.0)


def l_infinity(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Largest absolute difference between two aligned frequency vectors (in [0, 1])."""
    p = _probabilities(reference_counts)
    q = _probabilities(current_counts)
    return float(np.max(np.abs(p - q))) if p.size else 0.0


def _probabilities(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("a distribution needs at least one observation")
    return counts / total


def _kl_bits(p: np.ndarray, m: np.ndarray) -> float:
    """KL(p || m) in bits; terms with p == 0 contribute 0 (and m > 0 wherever p > 0)."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))
