"""Skew and drift monitoring with the statistics of Vertex AI Model Monitoring v1."""

from pipeline.monitoring.compare import DriftResult, FeatureDrift, compare, drift_between
from pipeline.monitoring.distance import js_divergence, l_infinity
from pipeline.monitoring.stats import (
    BASELINE_FILENAME,
    BaselineStats,
    CategoricalStats,
    NumericStats,
    compute_baseline,
)

__all__ = [
    "BASELINE_FILENAME",
    "BaselineStats",
    "CategoricalStats",
    "DriftResult",
    "FeatureDrift",
    "NumericStats",
    "compare",
    "compute_baseline",
    "drift_between",
    "js_divergence",
    "l_infinity",
]
