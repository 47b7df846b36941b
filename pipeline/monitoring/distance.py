"""The two Vertex AI Model Monitoring v1 statistics, and the fixed-edge histogram they use.

Jensen-Shannon divergence (log base 2, so it lies in [0, 1]) compares numeric features
binned with equal-width edges; L-infinity distance compares categorical frequency vectors.
Both take raw counts: normalising here keeps callers from mixing counts and frequencies.
"""

from __future__ import annotations

import numpy as np

JENSEN_SHANNON = "jensen_shannon"
L_INFINITY = "l_infinity"

# Slots of a binned vector: [below range, bin 0 .. bin n-1, above range].
BELOW = 0
ABOVE = -1


def js_divergence(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence, base 2, of two aligned count vectors (in [0, 1]).

    This is the divergence, i.e. scipy's `jensenshannon(p, q, base=2) ** 2`.
    """
    p = _probabilities(reference_counts)
    q = _probabilities(current_counts)
    m = (p + q) / 2
    value = 0.5 * _kl_bits(p, m) + 0.5 * _kl_bits(q, m)
    return float(min(max(value, 0.0), 1.0))  # clamp float round-off


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


def equal_width_edges(low: float, high: float, bins: int) -> np.ndarray:
    """`bins + 1` equal-width edges from `low` to `high`, both exact."""
    return np.linspace(low, high, bins + 1)


def binned_counts(values: np.ndarray, weights: np.ndarray | None, edges: np.ndarray) -> np.ndarray:
    """Counts of finite `values` (each weighing `weights`, default 1) per slot:
    below the first edge, each bin (closed on the right for the last), above the last edge.

    Returns int64 of length `len(edges) + 1`. Callers drop non-finite values first.
    """
    if _uniform(edges):
        inside, _ = np.histogram(values, bins=len(edges) - 1, range=(edges[0], edges[-1]),
                                 weights=weights)
        below, above = _total(values < edges[0], weights), _total(values > edges[-1], weights)
        counts = np.concatenate(([below], inside, [above]))
    else:  # degenerate or hand-made edges
        bins = len(edges) - 1
        slots = np.searchsorted(edges, values, side="right")
        slots[values == edges[-1]] = bins  # the last bin includes its right edge
        counts = np.bincount(slots, weights=weights, minlength=bins + 2)
    return np.rint(counts).astype(np.int64)


def _uniform(edges: np.ndarray) -> bool:
    """Edges np.histogram's fast equal-width path reproduces exactly (it rebuilds them
    with linspace and corrects each index against them) and accepts: strictly increasing
    (a range of a few ulps cannot hold 20 distinct edges) and of finite width."""
    return (
        bool(np.all(edges[1:] > edges[:-1]))
        and bool(np.isfinite(edges[-1] - edges[0]))
        and np.array_equal(edges, np.linspace(edges[0], edges[-1], len(edges)))
    )


def _total(mask: np.ndarray, weights: np.ndarray | None) -> float:
    return float(weights[mask].sum()) if weights is not None else float(np.count_nonzero(mask))
