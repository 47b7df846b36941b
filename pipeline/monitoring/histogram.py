"""TFDV's STANDARD histogram of a numeric feature, from values that arrive in chunks.

TFDV (tensorflow_data_validation/utils/quantiles_util.py, generate_equi_width_histogram)
gives each data set `buckets` equal-width buckets over its own finite [min, max]:
np.linspace(min, max, buckets + 1); the first bucket is closed, the others (low, high], so a
value on an inner edge counts in the bucket below it; min == max gives one point bucket
[v, v]. TFDV derives the counts from a quantiles sketch (eps 0.01), so its counts are
approximate; here they are exact while a data set has at most MAX_DISTINCT distinct values.

Memory stays bounded however many rows arrive: chunks wait in a buffer of BUFFER_VALUES
values, then fold into a table of distinct values and their counts. A table that outgrows
MAX_DISTINCT entries rounds its values up onto a power-of-two grid fine enough to keep at
most MAX_DISTINCT / 2 cells; each cell's count is then spread evenly over the cell (TFDV
spreads counts evenly within its quantile buckets the same way), which moves at most the
mass of the nine cells that straddle an inner edge.
"""

from __future__ import annotations

import math

import numpy as np

STANDARD_BUCKETS = 10  # TFDV's num_histogram_buckets default, which Vertex uses
BUFFER_VALUES = 1 << 20
MAX_DISTINCT = 1 << 19
# Unweighted counting by comparison with each inner edge (see _cumulative_counts) pays from
# this many values, up to this many buckets; blocks of CUMULATIVE_BLOCK values.
CUMULATIVE_MIN_VALUES = 4096
CUMULATIVE_MAX_BUCKETS = 32
CUMULATIVE_BLOCK = 1 << 16


def standard_edges(low: float, high: float, buckets: int) -> np.ndarray:
    """The edges TFDV cuts [low, high] with; none when the width overflows (TFDV then
    returns an empty histogram); [v, v] when low == high."""
    if low == high:
        return np.array([low, low])
    edges = np.linspace(low, high, buckets + 1)
    return edges if np.isfinite(edges).all() else np.empty(0)


def exact_counts(values: np.ndarray, weights: np.ndarray | None, edges: np.ndarray) -> np.ndarray:
    """Rows (each value weighing `weights`, default 1) per bucket of `edges`, TFDV's way:
    [e0, e1], (e1, e2], ..., (e_n-1, e_n]. Values must lie within [e0, e_n]."""
    buckets = edges.size - 1
    if buckets < 1:
        return np.empty(0)
    if weights is None and values.size >= CUMULATIVE_MIN_VALUES and buckets <= CUMULATIVE_MAX_BUCKETS:
        return _cumulative_counts(values, edges)
    slot = np.searchsorted(edges, values, side="left") - 1
    np.clip(slot, 0, buckets - 1, out=slot)
    return np.bincount(slot, weights=weights, minlength=buckets).astype(np.float64)


def _cumulative_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """exact_counts of unweighted values from how many lie at or below each inner edge: the
    same buckets (a value on an inner edge counts below it; values outside [e0, e_n] count
    in the first or last bucket, as the clipped slots do), several times faster than a
    binary search per value. Blocks keep each comparison's mask in cache."""
    inner = edges[1:-1].tolist()
    at_or_below = np.zeros(len(inner), dtype=np.int64)
    for start in range(0, values.size, CUMULATIVE_BLOCK):
        block = values[start:start + CUMULATIVE_BLOCK]
        for index, edge in enumerate(inner):
            at_or_below[index] += np.count_nonzero(block <= edge)
    return np.diff(np.concatenate([[0], at_or_below, [values.size]])).astype(np.float64)


class ValueSketch:
    """The finite values of one numeric feature over any number of chunks, in bounded
    memory; exact until more than `max_distinct` distinct values were seen."""

    def __init__(self, buffer_values: int = BUFFER_VALUES, max_distinct: int = MAX_DISTINCT) -> None:
        if max_distinct < 4:
            raise ValueError("max_distinct must be at least 4")
        self.buffer_values = buffer_values
        self.max_distinct = max_distinct
        self.resolution = 0.0  # grid cell width; 0 while the table holds exact values
        self.min = math.inf
        self.max = -math.inf
        self.rows = 0.0
        self._table = (np.empty(0), np.empty(0))
        self._pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._pending_size = 0

    def add(self, values: np.ndarray, weights: np.ndarray | None = None,
            bounds: tuple[float, float] | None = None) -> None:
        """Take finite `values`, each standing for `weights` rows (default one each);
        `bounds`: their (min, max) when the caller knows them already."""
        if values.size == 0:
            return
        low, high = bounds if bounds is not None else (float(values.min()), float(values.max()))
        self.min = min(self.min, low)
        self.max = max(self.max, high)
        self.rows += float(weights.sum()) if weights is not None else float(values.size)
        self._pending.append((values, weights))
        self._pending_size += values.size
        if self._pending_size > self.buffer_values:
            self._fold()

    def histogram(self, buckets: int = STANDARD_BUCKETS) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts) of the standard histogram; empty arrays when no value came."""
        if self.rows == 0:
            return np.empty(0), np.empty(0)
        edges = standard_edges(self.min, self.max, buckets)
        if edges.size == 0:
            return edges, np.empty(0)
        if self.resolution == 0 and self._table[0].size == 0:  # one pass, no sorting
            counts = sum((exact_counts(v, w, edges) for v, w in self._pending), np.zeros(edges.size - 1))
            return edges, counts
        self._fold()
        values, counts = self._table
        if self.resolution == 0:
            return edges, exact_counts(values, counts, edges)
        return edges, self._spread_counts(values, counts, edges)

    def _fold(self) -> None:
        """Move the buffered values into the table of distinct values."""
        parts = [self._table, *((v, w if w is not None else np.ones(v.size)) for v, w in self._pending)]
        values = np.concatenate([part[0] for part in parts])
        weights = np.concatenate([np.asarray(part[1], dtype=np.float64) for part in parts])
        self._pending, self._pending_size = [], 0
        self._table = self._distinct(values, weights)
        while self._table[0].size > self.max_distinct:
            self.resolution = self._coarser_resolution()
            self._table = self._distinct(*self._table)

    def _distinct(self, values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.resolution:  # cell (k - 1) r .. k r, closed on the right like the buckets
            values = np.ceil(values / self.resolution) * self.resolution
        unique, inverse = np.unique(values, return_inverse=True)
        return unique, np.bincount(inverse.ravel(), weights=weights, minlength=unique.size)

    def _coarser_resolution(self) -> float:
        """The smallest power of two, coarser than now, giving at most max_distinct / 2 cells."""
        span = self.max - self.min
        if not math.isfinite(span):  # TFDV gives no histogram here; keep one cell per sign
            return 2.0 ** 1023
        wanted = 2.0 ** math.ceil(math.log2(span / (self.max_distinct // 2)))
        return max(wanted, self.resolution * 2, math.ulp(max(abs(self.min), abs(self.max))))

    def _spread_counts(self, cells: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """Each cell's count spread evenly over the cell (clipped to [min, max])."""
        low = np.maximum(cells - self.resolution, self.min)
        high = np.minimum(cells, self.max)
        width = high - low
        below = np.empty(edges.size)  # mass at or below each edge
        for index, edge in enumerate(edges):
            share = np.where(width > 0, np.clip((edge - low) / np.where(width > 0, width, 1), 0, 1),
                             (low <= edge).astype(np.float64))
            below[index] = float(np.dot(share, counts))
        below[-1] = counts.sum()
        return np.diff(np.concatenate([[0.0], below[1:]]))
