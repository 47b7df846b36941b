"""Skew and drift: compare current data with baseline statistics, one chunk at a time.

Mirrors Vertex AI Model Monitoring v1, which runs TensorFlow Data Validation: for numeric
features the Jensen-Shannon divergence between the baseline's standard histogram and the
current data's own (10 equal-width buckets over its own [min, max]), aligned on the union of
their edges; for categorical ones the L-infinity distance over the union of categories;
default threshold 0.3. Between chunks only counts and bounded value sketches are kept
(pipeline.monitoring.histogram), so memory does not grow with the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from pipeline.errors import MonitoringError, clip
from pipeline.monitoring.columns import category_counts, map_columns, numeric_column
from pipeline.monitoring.distance import (
    JENSEN_SHANNON,
    L_INFINITY,
    align_histograms,
    histogram_js,
    l_infinity,
)
from pipeline.monitoring.histogram import STANDARD_BUCKETS, ValueSketch
from pipeline.monitoring.stats import (
    BaselineStats,
    CategoricalStats,
    NumericStats,
    compute_baseline,
    require_columns,
)
from pipeline.training.schema import FEATURES

OK = "ok"
NOT_ENOUGH_DATA = "not_enough_data"
SCORE = "score"
DEFAULT_THRESHOLD = 0.3
MAX_REPORTED_UNSEEN = 20  # a wrong column can hold a million distinct labels

Chunks: TypeAlias = pd.DataFrame | Iterable[pd.DataFrame]
Scores: TypeAlias = np.ndarray | Iterable[np.ndarray] | None


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's statistic against its threshold, with the counts behind it."""

    statistic: str
    value: float | None
    threshold: float
    status: str
    reference_rows: int
    current_rows: int
    missing: int
    below_range: int = 0
    above_range: int = 0
    unseen: dict[str, int] = field(default_factory=dict)
    distribution: dict[str, list] | None = None  # labels + reference/current shares, for reports

    @property
    def drifted(self) -> bool:
        return self.value is not None and self.value > self.threshold

    def to_dict(self) -> dict[str, Any]:
        common = {"statistic": self.statistic, "value": self.value, "threshold": self.threshold,
                  "drifted": self.drifted, "status": self.status,
                  "reference_rows": self.reference_rows, "current_rows": self.current_rows,
                  "missing": self.missing, "distribution": self.distribution}
        if self.statistic == L_INFINITY:
            return {**common, "unseen": sum(self.unseen.values()),
                    "unseen_categories": _most_frequent(self.unseen, MAX_REPORTED_UNSEEN)}
        return {**common, "out_of_range": self.below_range + self.above_range,
                "below_range": self.below_range, "above_range": self.above_range}


@dataclass(frozen=True)
class DriftResult:
    """Every feature's drift, the score's drift (when scores were compared) and row count."""

    features: dict[str, FeatureDrift]
    score: FeatureDrift | None
    rows: int
    status: str

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, drift in self.features.items() if drift.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": {name: drift.to_dict() for name, drift in self.features.items()},
            "score": self.score.to_dict() if self.score is not None else None,
            "rows": self.rows,
            "status": self.status,
            "drifted_features": self.drifted_features,
        }


def compare(
    reference: BaselineStats,
    current: Chunks,
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float = DEFAULT_THRESHOLD,
    min_rows: int = 30,
    current_scores: Scores = None,
    *,
    bins: int = STANDARD_BUCKETS,
) -> DriftResult:
    """Compare `current` (a DataFrame or an iterable of DataFrame chunks) with `reference`.

    `thresholds` maps feature names (and "score") to thresholds; others use
    `default_threshold`. Fewer than `min_rows` rows on either side gives status
    "not_enough_data" with no values. Missing feature columns raise MonitoringError.
    `current_scores` (one array, or an iterable of arrays) is read only after every chunk,
    so it may be filled while the chunks are consumed; its length must equal the rows.
    `bins`: buckets of the current data's standard histograms (TFDV's and Vertex's 10).
    """
    limit_of = _thresholds([*reference.features, SCORE], thresholds or {}, default_threshold)
    if current_scores is not None and reference.score is None:
        raise MonitoringError("current scores were given but the baseline has no score "
                              "distribution (recompute it with the training scores)")
    accumulators = {name: _accumulator(stats, bins) for name, stats in reference.features.items()}
    rows = 0
    for chunk in _chunks(current):
        require_columns(chunk, list(reference.features), "current data")
        rows += len(chunk)
        columns = [(accumulator, chunk[name]) for name, accumulator in accumulators.items()]
        map_columns(lambda column: column[0].add(column[1]), columns, len(chunk),
                    cost=lambda column: isinstance(column[0], _NumericAccumulator))
    enough = rows >= min_rows and reference.rows >= min_rows
    gate = _Gate(max(min_rows, 1), enough)
    features = {name: acc.result(limit_of[name], gate) for name, acc in accumulators.items()}
    score = _score_drift(reference.score, current_scores, rows, limit_of[SCORE], gate, bins)
    return DriftResult(features, score, rows, OK if enough else NOT_ENOUGH_DATA)


def drift_between(
    previous: pd.DataFrame,
    current: Chunks,
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float = DEFAULT_THRESHOLD,
    min_rows: int = 30,
    *,
    bins: int = STANDARD_BUCKETS,
    previous_scores: np.ndarray | None = None,
    current_scores: Scores = None,
    features: Sequence[str] = FEATURES,
) -> DriftResult:
    """Drift of `current` against the `previous` window (its statistics are the baseline)."""
    require_columns(previous, features, "previous window")
    baseline = compute_baseline(previous, previous_scores, bins, features=features)
    return compare(baseline, current, thresholds, default_threshold, min_rows, current_scores,
                   bins=bins)


def _thresholds(names: Sequence[str], given: Mapping[str, float],
                default: float) -> dict[str, float]:
    chosen = {name: float(given.get(name, default)) for name in names}
    for name, threshold in chosen.items():
        if not 0 < threshold <= 1:
            raise MonitoringError(f"threshold of {name} must be in (0, 1], got {threshold}")
    return chosen


@dataclass(frozen=True)
class _Gate:
    """Whether a statistic may be computed: enough rows overall and on both sides."""

    min_rows: int
    enough: bool

    def allows(self, reference_rows: int, current_rows: int) -> bool:
        return self.enough and min(reference_rows, current_rows) >= self.min_rows


class _NumericAccumulator:
    """The current data's values (a bounded sketch), and how many fall outside the
    reference's [min, max]."""

    def __init__(self, reference: NumericStats, bins: int) -> None:
        self.reference = reference
        self.bins = bins
        self.sketch = ValueSketch()
        self.missing = 0
        self.below = 0
        self.above = 0

    def add(self, series: pd.Series) -> None:
        column = numeric_column(series)
        self.missing += column.missing
        if column.values.size == 0:
            return
        bounds = float(column.values.min()), float(column.values.max())
        self.sketch.add(column.values, column.weights, bounds)
        low, high = self.reference.min, self.reference.max
        if low is None or high is None:  # no reference range at all: every value lies above it
            self.above += column.rows
            return
        if bounds[0] < low:  # a chunk inside the reference's range needs no pass over it
            self.below += _rows(column.values < low, column.weights)
        if bounds[1] > high:
            self.above += _rows(column.values > high, column.weights)

    def result(self, threshold: float, gate: _Gate) -> FeatureDrift:
        current = self.sketch.histogram(self.bins)
        reference = (np.asarray(self.reference.edges), np.asarray(self.reference.counts))
        current_rows = int(round(self.sketch.rows))
        reference_rows = self.reference.rows
        value = histogram_js(reference, current) if gate.allows(reference_rows, current_rows) else None
        aligned = align_histograms(reference, current)
        shares = _shares(aligned.labels, aligned.reference.tolist(), aligned.current.tolist())
        return FeatureDrift(JENSEN_SHANNON, value, threshold, _status(value), reference_rows,
                            current_rows, self.missing, self.below, self.above, distribution=shares)


def _rows(mask: np.ndarray, weights: np.ndarray | None) -> int:
    return int(weights[mask].sum()) if weights is not None else int(np.count_nonzero(mask))


class _CategoricalAccumulator:
    """Current rows per label, over however many chunks."""

    def __init__(self, reference: CategoricalStats) -> None:
        self.reference = reference
        self.counts: dict[str, int] = {}
        self.missing = 0

    def add(self, series: pd.Series) -> None:
        counted = category_counts(series, self.reference.counts)
        self.missing += counted.missing
        for label, rows in counted.counts.items():
            self.counts[label] = self.counts.get(label, 0) + rows

    def result(self, threshold: float, gate: _Gate) -> FeatureDrift:
        known = self.reference.counts
        unseen = {label: rows for label, rows in self.counts.items() if label not in known}
        current_rows = sum(self.counts.values())
        labels = [*sorted(known), *sorted(unseen)]
        reference_counts = [known.get(label, 0) for label in labels]
        current_counts = [self.counts.get(label, 0) for label in labels]
        value = None
        if gate.allows(self.reference.rows, current_rows):
            value = l_infinity(np.array(reference_counts), np.array(current_counts))
        return FeatureDrift(L_INFINITY, value, threshold, _status(value),
                            self.reference.rows, current_rows, self.missing, unseen=unseen,
                            distribution=_shares(labels, reference_counts, current_counts))


_Accumulator: TypeAlias = _NumericAccumulator | _CategoricalAccumulator


def _accumulator(stats: NumericStats | CategoricalStats, bins: int) -> _Accumulator:
    if isinstance(stats, NumericStats):
        return _NumericAccumulator(stats, bins)
    return _CategoricalAccumulator(stats)


def _score_drift(reference: NumericStats | None, scores: Scores, rows: int, threshold: float,
                 gate: _Gate, bins: int) -> FeatureDrift | None:
    if scores is None or reference is None:
        return None
    accumulator = _NumericAccumulator(reference, bins)
    for chunk in _score_chunks(scores):
        accumulator.add(pd.Series(chunk))
    seen = int(round(accumulator.sketch.rows)) + accumulator.missing
    if seen != rows:
        raise MonitoringError(f"current_scores has {seen} values but the current data "
                              f"has {rows} rows")
    return accumulator.result(threshold, gate)


def _chunks(current: Chunks) -> Iterator[pd.DataFrame]:
    if isinstance(current, pd.DataFrame):
        yield current
        return
    if not isinstance(current, Iterable):
        raise MonitoringError(f"current data must be a DataFrame or DataFrame chunks, "
                              f"got {type(current).__name__}")
    yield from current


def _score_chunks(scores: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    if _is_one_array(scores):
        yield np.asarray(scores, dtype=np.float64).ravel()
        return
    for chunk in scores:
        yield np.asarray(chunk, dtype=np.float64).ravel()


def _is_one_array(scores: object) -> bool:
    if isinstance(scores, (np.ndarray, pd.Series)):
        return True
    return isinstance(scores, (list, tuple)) and (not scores or np.isscalar(scores[0]))


def _shares(labels: list[str], reference: Sequence[float], current: Sequence[float]) -> dict[str, list]:
    """Per-label shares of each side, for plots (a wrong column can hold endless labels)."""
    keep = min(len(labels), 64)
    ref_total, cur_total = max(sum(reference), 1), max(sum(current), 1)
    return {"labels": [clip(label) for label in labels[:keep]],  # the user's values: cut them
            "reference": [r / ref_total for r in reference[:keep]],
            "current": [c / cur_total for c in current[:keep]]}


def _status(value: float | None) -> str:
    return OK if value is not None else NOT_ENOUGH_DATA


def _most_frequent(counts: dict[str, int], limit: int) -> dict[str, int]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown: dict[str, int] = {}
    for label, rows in ranked[:limit]:  # labels are the user's values: cut them (a 5 MB field)
        shown[clip(label)] = shown.get(clip(label), 0) + rows
    return shown
