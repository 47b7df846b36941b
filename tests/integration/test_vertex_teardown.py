"""Undeploy and cleanup leave nothing behind that costs money."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.vertex import (
    cleanup_vertex,
    deploy_to_vertex,
    setup_alerts,
    setup_model_monitoring,
    undeploy_from_vertex,
    upload_run_to_vertex,
)
from pipeline.config import Config
from tests.fakes.monitoring_server import FakeMonitoringServer
from tests.fakes.vertex_server import FakeVertexServer


@pytest.fixture
def canary_endpoint(vertex_config: Config, tmp_path: Path) -> dict[str, Any]:
    """Two versions serving 70/30 on the endpoint."""
    from tests.fakes.fixtures import make_run_dir

    upload_run_to_vertex(vertex_config, make_run_dir(tmp_path / "a", "run-a"), ["champion"],
                         dry_run=False)
    deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)
    upload_run_to_vertex(vertex_config, make_run_dir(tmp_path / "b", "run-b"), ["challenger"],
                         dry_run=False)
    return deploy_to_vertex(vertex_config, "churn@challenger", 30, dry_run=False)


def test_undeploy_removes_every_model_then_the_endpoint(
        vertex_config: Config, canary_endpoint: dict[str, Any],
        fake_vertex: FakeVertexServer) -> None:
    fake_vertex.reset_requests()

    result = undeploy_from_vertex(vertex_config, dry_run=False)

    undeployed = [b["deployedModelId"] for b in fake_vertex.bodies("undeployModel")]
    assert undeployed[0] == canary_endpoint["deployed_model_id"]  # the 30% one goes first
    assert len(undeployed) == 2
    assert [c.path.rsplit("/", 1)[-1] for c in fake_vertex.calls("deleteEndpoint")] == [
        canary_endpoint["endpoint"].rsplit("/", 1)[-1]]
    assert fake_vertex.state.endpoints == {}
    assert result["undeployed"] == undeployed


def test_undeploy_deletes_the_monitoring_job_first(
        vertex_config: Config, canary_endpoint: dict[str, Any],
        fake_vertex: FakeVertexServer) -> None:
    setup_model_monitoring(vertex_config, dry_run=False)
    fake_vertex.reset_requests()

    undeploy_from_vertex(vertex_config, dry_run=False)

    actions = [r.action for r in fake_vertex.requests
               if r.action in ("deleteMonitoringJob", "undeployModel", "deleteEndpoint")]
    assert actions == ["deleteMonitoringJob", "undeployModel", "undeployModel", "deleteEndpoint"]
    assert fake_vertex.state.jobs == {} and fake_vertex.state.endpoints == {}


def test_undeploy_without_endpoint_is_a_no_op(vertex_config: Config,
                                              fake_vertex: FakeVertexServer) -> None:
    result = undeploy_from_vertex(vertex_config, dry_run=False)
    assert result["endpoint"] is None and "nothing to do" in result["message"]
    assert fake_vertex.calls("deleteEndpoint") == []


def test_cleanup_deletes_endpoints_jobs_and_alerts_of_the_project(
        vertex_config: Config, canary_endpoint: dict[str, Any], fake_vertex: FakeVertexServer,
        fake_monitoring: FakeMonitoringServer) -> None:
    setup_model_monitoring(vertex_config, dry_run=False)
    setup_alerts(vertex_config, dry_run=False)
    renamed = vertex_config.model_copy(update={"vertex": vertex_config.vertex.model_copy(
        update={"endpoint_name": "churn-endpoint-old"})})
    deploy_to_vertex(renamed, "churn@champion", None, dry_run=False)  # an older endpoint name
    assert len(fake_vertex.state.endpoints) == 2

    result = cleanup_vertex(vertex_config, dry_run=False)

    assert fake_vertex.state.endpoints == {}
    assert fake_vertex.state.jobs == {}
    assert fake_monitoring.policies == {} and fake_monitoring.channels == {}
    assert len(result["deleted_endpoints"]) == 2
    assert len(result["deleted_alert_policies"]) == 2
    assert len(result["deleted_notification_channels"]) == 1
    assert fake_vertex.state.models  # the registry is kept

    again = cleanup_vertex(vertex_config, dry_run=False)
    assert again["deleted_endpoints"] == [] and again["deleted_alert_policies"] == []


def test_cleanup_leaves_resources_of_others_alone(
        vertex_config: Config, fake_vertex: FakeVertexServer,
        fake_monitoring: FakeMonitoringServer) -> None:
    from google.cloud import aiplatform

    from pipeline.backends.vertex.session import init_vertex

    init_vertex(vertex_config)
    aiplatform.Endpoint.create(display_name="someone-elses-endpoint", labels={"team": "other"})

    cleanup_vertex(vertex_config, dry_run=False)

    assert [e["displayName"] for e in fake_vertex.state.endpoints.values()] == [
        "someone-elses-endpoint"]
