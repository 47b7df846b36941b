"""Prometheus gauges of the latest drift check, served by the running prediction server.

`churn monitor` writes artifacts/monitoring/latest.json; the server reads it on each scrape,
so drift shows next to latency and errors without restarting anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATEST = "latest.json"


def latest_summary(report: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """What the gauges need from a drift report."""
    return {"dir": str(out_dir), "generated_at": report["generated_at"], "model_version": report["model_version"],
            "features": {name: {"statistic": f["statistic"], "value": f["value"], "threshold": f["threshold"],
                                "drifted": f["drifted"]} for name, f in report["features"].items()}}


class DriftGauges(Collector):
    """churn_feature_drift{feature,statistic}, churn_feature_drift_threshold{feature},
    churn_feature_drifted{feature} from the newest drift check (nothing before the first)."""

    def __init__(self, monitoring_dir: Path) -> None:
        self.path = Path(monitoring_dir) / LATEST

    def _summary(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = self._summary()
        value = GaugeMetricFamily("churn_feature_drift", "Latest skew statistic per feature (JS or L-inf).",
                                  labels=["feature", "statistic"])
        threshold = GaugeMetricFamily("churn_feature_drift_threshold", "Alert threshold per feature.",
                                      labels=["feature"])
        drifted = GaugeMetricFamily("churn_feature_drifted", "1 when the feature crossed its threshold.",
                                    labels=["feature"])
        for name, feature in ((summary or {}).get("features") or {}).items():
            if feature.get("value") is not None:
                value.add_metric([name, feature["statistic"]], float(feature["value"]))
            threshold.add_metric([name], float(feature["threshold"]))
            drifted.add_metric([name], 1.0 if feature["drifted"] else 0.0)
        yield from (value, threshold, drifted)
