"""`setup_alerts` against the fake Cloud Monitoring gRPC server (and the fake Vertex API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.vertex import deploy_to_vertex, setup_alerts, upload_run_to_vertex
from pipeline.config import Config
from pipeline.errors import CloudError
from tests.fakes.monitoring_server import FakeMonitoringServer

MANAGED = {"managed-by": "churn-pipeline", "churn-model": "churn"}


@pytest.fixture
def deployed(vertex_config: Config, fake_run_dir: Path) -> dict[str, Any]:
    upload_run_to_vertex(vertex_config, fake_run_dir, ["champion"], dry_run=False)
    return deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)


def _metric(endpoint_id: str, metric: str) -> str:
    return ('resource.type = "aiplatform.googleapis.com/Endpoint" AND '
            f'resource.labels.endpoint_id = "{endpoint_id}" AND '
            f'metric.type = "aiplatform.googleapis.com/prediction/online/{metric}"')


def test_setup_creates_channel_and_latency_and_error_rate_policies(
        vertex_config: Config, deployed: dict[str, Any],
        fake_monitoring: FakeMonitoringServer) -> None:
    endpoint_id = deployed["endpoint"].rsplit("/", 1)[-1]

    result = setup_alerts(vertex_config, dry_run=False)

    (channel_request,) = fake_monitoring.requests("CreateNotificationChannel")
    assert channel_request == {
        "name": "projects/test-project",
        "notificationChannel": {
            "type": "email", "displayName": "churn alerts: oncall@example.com",
            "labels": {"email_address": "oncall@example.com"},
            "userLabels": {"team": "data-science", "cost_center": "42", **MANAGED}}}
    channel = result["notification_channels"][0]
    latency, errors = (r["alertPolicy"] for r in fake_monitoring.requests("CreateAlertPolicy"))

    assert latency["displayName"] == "churn-endpoint: p99 prediction latency above 250 ms"
    assert latency["notificationChannels"] == [channel]
    assert latency["combiner"] == "OR"
    assert latency["userLabels"]["churn-alert"] == "latency"
    assert latency["userLabels"]["churn-endpoint"] == "churn-endpoint"
    (condition,) = latency["conditions"]
    assert condition["conditionThreshold"] == {
        "filter": _metric(endpoint_id, "prediction_latencies"),
        "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_PERCENTILE_99"}],
        "comparison": "COMPARISON_GT", "thresholdValue": 250.0, "duration": "300s",
        "trigger": {"count": 1}}

    assert errors["displayName"] == "churn-endpoint: error rate above 2.0%"
    threshold = errors["conditions"][0]["conditionThreshold"]
    assert threshold["filter"] == _metric(endpoint_id, "error_count")
    assert threshold["denominatorFilter"] == _metric(endpoint_id, "response_count")
    assert threshold["thresholdValue"] == 0.02
    assert threshold["aggregations"] == threshold["denominatorAggregations"] == [
        {"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_DELTA",
         "crossSeriesReducer": "REDUCE_SUM", "groupByFields": ["resource.label.endpoint_id"]}]
    assert sorted(result["policies"]) == sorted(fake_monitoring.policies)


def test_second_setup_updates_instead_of_duplicating(
        vertex_config: Config, deployed: dict[str, Any],
        fake_monitoring: FakeMonitoringServer) -> None:
    first = setup_alerts(vertex_config, dry_run=False)
    stricter = vertex_config.model_copy(update={"vertex": vertex_config.vertex.model_copy(
        update={"latency_alert_ms": 100.0})})

    second = setup_alerts(stricter, dry_run=False)

    assert len(fake_monitoring.requests("CreateAlertPolicy")) == 2
    assert len(fake_monitoring.requests("CreateNotificationChannel")) == 1
    updates = fake_monitoring.requests("UpdateAlertPolicy")
    assert [u["alertPolicy"]["name"] for u in updates] == first["policies"]
    assert updates[0]["alertPolicy"]["conditions"][0]["conditionThreshold"][
        "thresholdValue"] == 100.0
    assert second["policies"] == first["policies"]
    assert len(fake_monitoring.policies) == 2


def test_alerts_need_a_deployed_endpoint(vertex_config: Config,
                                         fake_monitoring: FakeMonitoringServer) -> None:
    with pytest.raises(CloudError, match="no endpoint named 'churn-endpoint'.*churn deploy"):
        setup_alerts(vertex_config, dry_run=False)
    assert fake_monitoring.calls == []
