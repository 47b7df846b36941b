"""Baseline statistics of the training split: what skew and drift are measured against.

Stored as baseline_stats.json in the run directory and with each registered model version.
Numeric features, and the prediction scores, keep TFDV's STANDARD histogram (what Vertex AI
Model Monitoring v1 compares): `bins` equal-width buckets over the training split's own
[min, max], with exact counts (see pipeline.monitoring.histogram); categorical features keep
their category counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from pipeline.core.atomic import read_json, write_json
from pipeline.errors import MonitoringError, RunDirError, clip
from pipeline.monitoring.columns import (
    NumericColumn,
    category_counts,
    map_columns,
    numeric_column,
)
from pipeline.monitoring.histogram import STANDARD_BUCKETS, exact_counts, standard_edges
from pipeline.training.schema import FEATURES, NUMERIC_FEATURES

KIND = "churn-baseline-stats"
SCHEMA_VERSION = 1
BASELINE_FILENAME = "baseline_stats.json"
NUMERIC = "numeric"
CATEGORICAL = "categorical"


class _Invalid(ValueError):
    """A malformed statistics document; the message says which part and why."""


@dataclass(frozen=True)
class NumericStats:
    """TFDV's standard histogram (`counts` between consecutive `edges`; [v, v] when the
    column is constant; none when it has no value) and moments."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    missing: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None

    @property
    def rows(self) -> int:
        """Rows inside the histogram."""
        return sum(self.counts)

    def to_dict(self) -> dict[str, Any]:
        moments = {"min": self.min, "max": self.max, "mean": self.mean, "std": self.std}
        return {"type": NUMERIC, "edges": list(self.edges), "counts": list(self.counts),
                "rows": self.rows, "missing": self.missing, **moments}

    @classmethod
    def from_dict(cls, raw: Any) -> NumericStats:
        raw = _mapping(raw, "numeric statistics")
        edges = [_number(v, "edges") for v in _list(raw, "edges")]
        counts = [_count(v, "counts") for v in _list(raw, "counts")]
        if edges or counts:
            _require(len(edges) == len(counts) + 1, "needs exactly one more edge than counts")
            ascending = all(a <= b for a, b in zip(edges, edges[1:], strict=False))
            _require(ascending, "edges are not ascending")
        moments = [_optional_number(raw, key) for key in ("min", "max", "mean", "std")]
        return cls(tuple(edges), tuple(counts), _count(raw.get("missing"), "missing"), *moments)


@dataclass(frozen=True)
class CategoricalStats:
    """Rows per category label."""

    counts: dict[str, int]
    missing: int

    @property
    def rows(self) -> int:
        """Rows with a label."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        total = self.rows or 1
        frequencies = {label: count / total for label, count in self.counts.items()}
        return {"type": CATEGORICAL, "counts": dict(self.counts), "frequencies": frequencies,
                "rows": self.rows, "missing": self.missing}

    @classmethod
    def from_dict(cls, raw: Any) -> CategoricalStats:
        raw = _mapping(raw, "categorical statistics")
        counts = _mapping(raw.get("counts"), "counts")
        parsed = {str(label): _count(rows, f"count of {label!r}") for label, rows in counts.items()}
        return cls(parsed, _count(raw.get("missing"), "missing"))


FeatureStats: TypeAlias = NumericStats | CategoricalStats


@dataclass(frozen=True)
class BaselineStats:
    """Statistics of every monitored feature, and of the scores when they were given."""

    features: dict[str, FeatureStats]
    score: NumericStats | None
    rows: int
    bins: int
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "schema_version": self.schema_version,
            "rows": self.rows,
            "bins": self.bins,
            "features": {name: stats.to_dict() for name, stats in self.features.items()},
            "score": self.score.to_dict() if self.score is not None else None,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> BaselineStats:
        """Parse and validate; a malformed document raises MonitoringError."""
        try:
            return _parse_baseline(raw)
        except _Invalid as exc:
            raise MonitoringError(f"invalid baseline statistics: {exc}") from None

    def save(self, path: Path) -> Path:
        """Write atomically as JSON."""
        return write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> BaselineStats:
        """Read `path`; a missing, corrupt, incomplete or other-schema file raises
        MonitoringError naming the file and the problem."""
        try:
            raw = read_json(Path(path))
        except RunDirError as exc:
            raise MonitoringError(str(exc)) from None
        try:
            return _parse_baseline(raw)
        except _Invalid as exc:
            raise MonitoringError(f"{path}: {exc} (recompute it with a training run)") from None


def compute_baseline(
    frame: pd.DataFrame,
    scores: np.ndarray | None = None,
    bins: int = STANDARD_BUCKETS,
    *,
    features: Sequence[str] = FEATURES,
) -> BaselineStats:
    """Statistics of the training split `frame` (and of its prediction `scores`).

    Features in pipeline.training.schema.NUMERIC_FEATURES are numeric (text is coerced, blanks
    count as missing); the others are categorical.
    """
    if not isinstance(bins, int) or bins < 1:
        raise MonitoringError(f"bins must be a positive integer, got {bins!r}")
    require_columns(frame, features, "training data")
    columns = [(name, frame[name]) for name in features]
    computed = map_columns(lambda column: feature_stats(column[1], column[0], bins), columns,
                           len(frame), cost=lambda column: column[0] in NUMERIC_FEATURES)
    stats = dict(zip(features, computed, strict=True))
    score = score_stats(scores, len(frame), bins) if scores is not None else None
    return BaselineStats(stats, score, len(frame), bins)


def feature_stats(series: pd.Series, name: str, bins: int) -> FeatureStats:
    """Statistics of one feature column, numeric or categorical by the schema."""
    if name in NUMERIC_FEATURES:
        return numeric_stats(numeric_column(series), bins)
    counted = category_counts(series)
    return CategoricalStats(counted.counts, counted.missing)


def numeric_stats(column: NumericColumn, bins: int) -> NumericStats:
    """TFDV's standard histogram of the column: `bins` equal-width buckets over its own
    [min, max], exact counts."""
    if column.values.size == 0:
        return NumericStats((), (), column.missing, None, None, None, None)
    low, high = float(column.values.min()), float(column.values.max())
    edges = standard_edges(low, high, bins)
    counts = np.rint(exact_counts(column.values, column.weights, edges)).astype(np.int64)
    mean, std = _moments(column)
    return NumericStats(tuple(edges.tolist()), tuple(counts.tolist()), column.missing,
                        low, high, mean, std)


def score_stats(scores: np.ndarray, rows: int, bins: int) -> NumericStats:
    """Standard histogram of prediction probabilities (which must lie in [0, 1])."""
    column = numeric_column(pd.Series(np.asarray(scores, dtype=np.float64).ravel()))
    if column.values.size + column.missing != rows:
        raise MonitoringError(f"scores has {column.values.size + column.missing} values "
                              f"but the data has {rows} rows")
    if column.values.size and (column.values.min() < 0 or column.values.max() > 1):
        raise MonitoringError(f"scores must be probabilities in [0, 1], found values from "
                              f"{column.values.min():g} to {column.values.max():g}")
    return numeric_stats(column, bins)


def require_columns(frame: pd.DataFrame, features: Sequence[str], what: str) -> None:
    """Raise MonitoringError naming the features `frame` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise MonitoringError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in features if name not in frame.columns]
    if not missing:
        return
    message = f"{what} lacks feature column(s): {', '.join(missing)}"
    if len(missing) == len(features):
        shown = ", ".join(clip(str(name), 60) for name in list(frame.columns)[:8])
        message += (f" (it has none of the {len(features)} features; its columns: {shown}; "
                    "is it another model's data?)")
    raise MonitoringError(message)


def _moments(column: NumericColumn) -> tuple[float, float]:
    mean = float(np.average(column.values, weights=column.weights))
    variance = float(np.average((column.values - mean) ** 2, weights=column.weights))
    return mean, math.sqrt(variance)


def _parse_baseline(raw: Any) -> BaselineStats:
    raw = _mapping(raw, "the document")
    kind = raw.get("kind")
    _require(kind == KIND, f"not a baseline statistics file (kind {kind!r}, expected {KIND!r})")
    version = raw.get("schema_version")
    _require(version == SCHEMA_VERSION, f"schema version {version!r} is not supported "
                                        f"(expected {SCHEMA_VERSION})")
    features = _mapping(raw.get("features"), "features")
    _require(bool(features), "no features")
    parsed = {str(name): _parse_feature(name, value) for name, value in features.items()}
    score = raw.get("score")
    return BaselineStats(
        features=parsed,
        score=_parse_part("score", NumericStats.from_dict, score) if score is not None else None,
        rows=_count(raw.get("rows"), "rows"),
        bins=_count(raw.get("bins"), "bins"),
        schema_version=SCHEMA_VERSION,
    )


def _parse_feature(name: str, raw: Any) -> FeatureStats:
    kind = _mapping(raw, f"feature {name!r}").get("type")
    parsers = {NUMERIC: NumericStats.from_dict, CATEGORICAL: CategoricalStats.from_dict}
    _require(isinstance(kind, str) and kind in parsers, f"feature {name!r}: unknown type {kind!r}")
    return _parse_part(f"feature {name!r}", parsers[str(kind)], raw)


def _parse_part(label: str, parser: Any, raw: Any) -> Any:
    try:
        return parser(raw)
    except _Invalid as exc:
        raise _Invalid(f"{label}: {exc}") from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _Invalid(message)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    _require(isinstance(value, Mapping), f"{what} must be an object, got {type(value).__name__}")
    return value


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    _require(isinstance(value, list), f"'{key}' must be a list")
    return list(value or ())


def _number(value: Any, what: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    _require(ok, f"'{what}' must hold finite numbers, got {value!r}")
    return float(value)


def _optional_number(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return None if value is None else _number(value, key)


def _count(value: Any, what: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    _require(ok, f"'{what}' must be a non-negative integer, got {value!r}")
    return int(value)
