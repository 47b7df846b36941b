"""`deploy_to_vertex` against the fake Vertex REST API: endpoint, resources, traffic, rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.vertex import deploy_to_vertex, upload_run_to_vertex
from pipeline.config import Config
from pipeline.errors import CloudError
from tests.fakes.fixtures import TEST_BQ, TEST_KMS, make_run_dir
from tests.fakes.vertex_server import FakeVertexServer


def _upload(config: Config, root: Path, run_id: str, aliases: list[str]) -> dict[str, Any]:
    return upload_run_to_vertex(config, make_run_dir(root / run_id, run_id), aliases,
                                dry_run=False)


def _endpoints(fake: FakeVertexServer) -> list[dict[str, Any]]:
    return list(fake.state.endpoints.values())


def test_first_deploy_creates_the_endpoint_and_sends_all_traffic(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    uploaded = _upload(vertex_config, tmp_path, "run-a", ["champion"])

    result = deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)

    (create,) = fake_vertex.calls("createEndpoint")
    assert create.body == {
        "displayName": "churn-endpoint",
        "labels": {"team": "data-science", "cost_center": "42", "managed-by": "churn-pipeline",
                   "churn-model": "churn"},
        "encryptionSpec": {"kmsKeyName": TEST_KMS},
        "predictRequestResponseLoggingConfig": {
            "enabled": True, "samplingRate": 0.25, "bigqueryDestination": {"outputUri": TEST_BQ}},
    }
    (deploy,) = fake_vertex.bodies("deployModel")
    assert deploy["trafficSplit"] == {"0": 100}
    assert deploy["deployedModel"]["model"] == uploaded["resource_name"] + "@1"
    assert deploy["deployedModel"]["displayName"] == "churn-v1"
    assert deploy["deployedModel"]["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-4"}, "minReplicaCount": 1,
        "maxReplicaCount": 3}
    assert result["endpoint_created"] is True
    assert result["traffic_split"] == {result["deployed_model_id"]: 100}
    assert result["model"] == uploaded["resource_name"] + "@1"


def test_full_rollout_retires_the_previous_version(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", ["champion"])
    first = deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)
    _upload(vertex_config, tmp_path, "run-b", ["challenger"])

    second = deploy_to_vertex(vertex_config, "churn@2", None, dry_run=False)

    assert len(fake_vertex.calls("createEndpoint")) == 1  # the endpoint is reused
    assert fake_vertex.bodies("deployModel")[1]["trafficSplit"] == {"0": 100}
    assert fake_vertex.bodies("undeployModel") == [
        {"deployedModelId": first["deployed_model_id"],
         "trafficSplit": {second["deployed_model_id"]: 100}}]
    (endpoint,) = _endpoints(fake_vertex)
    assert [m["id"] for m in endpoint["deployedModels"]] == [second["deployed_model_id"]]
    assert second["retired_deployed_models"] == [first["deployed_model_id"]]


def test_canary_keeps_the_rest_on_the_serving_model_then_promotes(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", ["champion"])
    champion = deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)
    _upload(vertex_config, tmp_path, "run-b", ["challenger"])

    canary = deploy_to_vertex(vertex_config, "churn@challenger", 20, dry_run=False)

    assert fake_vertex.bodies("deployModel")[1]["trafficSplit"] == {
        "0": 20, champion["deployed_model_id"]: 80}
    assert canary["traffic_split"] == {canary["deployed_model_id"]: 20,
                                       champion["deployed_model_id"]: 80}
    assert fake_vertex.calls("undeployModel") == []

    promoted = deploy_to_vertex(vertex_config, "churn@challenger", None, dry_run=False)

    assert len(fake_vertex.calls("deployModel")) == 2  # already deployed: traffic only
    (update,) = fake_vertex.calls("updateEndpoint")
    assert update.body["trafficSplit"] == {canary["deployed_model_id"]: 100}
    assert update.query["updateMask"] == ["trafficSplit"]
    assert promoted["traffic_split"] == {canary["deployed_model_id"]: 100}
    assert promoted["retired_deployed_models"] == [champion["deployed_model_id"]]


def test_canary_on_an_empty_endpoint_is_refused_without_creating_anything(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", [])
    with pytest.raises(CloudError, match="deploy without a canary percentage first"):
        deploy_to_vertex(vertex_config, "churn@1", 10, dry_run=False)
    assert fake_vertex.calls("createEndpoint") == []


def test_failed_deploy_deletes_the_endpoint_it_created(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", ["champion"])
    fake_vertex.fail_next("deployModel", "Model server never became ready")

    with pytest.raises(CloudError) as caught:
        deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)

    message = str(caught.value)
    assert "Model server never became ready" in message
    assert "deleted endpoint projects/test-project/locations/us-central1/endpoints/" in message
    assert "\n" not in message
    (created,) = fake_vertex.calls("createEndpoint")
    (deleted,) = fake_vertex.calls("deleteEndpoint")
    assert _endpoints(fake_vertex) == []


def test_failed_deploy_leaves_an_existing_endpoint_alone(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", ["champion"])
    first = deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)
    _upload(vertex_config, tmp_path, "run-b", [])
    fake_vertex.fail_next("deployModel", "Quota for n1-standard-4 exhausted")

    with pytest.raises(CloudError, match="n1-standard-4 exhausted") as caught:
        deploy_to_vertex(vertex_config, "churn@2", None, dry_run=False)

    assert "deleted endpoint" not in str(caught.value)
    assert fake_vertex.calls("deleteEndpoint") == []
    (endpoint,) = _endpoints(fake_vertex)
    assert endpoint["trafficSplit"] == {first["deployed_model_id"]: 100}


def test_run_directory_ref_deploys_the_version_uploaded_from_it(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", [])
    _upload(vertex_config, tmp_path, "run-b", [])

    result = deploy_to_vertex(vertex_config, str(tmp_path / "run-a" / "runs" / "run-a"), None,
                              dry_run=False)

    assert result["model"].endswith("@1")


def test_unknown_version_is_one_clear_line(vertex_config: Config, tmp_path: Path) -> None:
    _upload(vertex_config, tmp_path, "run-a", [])
    with pytest.raises(CloudError, match="model 'churn' has no version or alias '7'"):
        deploy_to_vertex(vertex_config, "churn@7", None, dry_run=False)


def test_no_model_uploaded_yet_says_what_to_do(vertex_config: Config) -> None:
    with pytest.raises(CloudError, match="no Vertex model named 'churn'.*churn upload"):
        deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)


def test_permission_denied_names_the_missing_role(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer) -> None:
    _upload(vertex_config, tmp_path, "run-a", ["champion"])
    fake_vertex.fail_next("createEndpoint", "Permission 'aiplatform.endpoints.create' denied",
                          http_status=403, status="PERMISSION_DENIED")
    with pytest.raises(CloudError, match="permission denied in project test-project .*"
                       "roles/aiplatform.user"):
        deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)


def test_api_not_enabled_says_how_to_enable_it(
        vertex_config: Config, fake_vertex: FakeVertexServer) -> None:
    fake_vertex.fail_next(
        "listModels", "Vertex AI API has not been used in project 123 before or it is disabled. "
        "Enable it by visiting https://console.developers.google.com/apis/api/"
        "aiplatform.googleapis.com/overview?project=123 then retry. SERVICE_DISABLED",
        http_status=403, status="PERMISSION_DENIED")
    with pytest.raises(CloudError) as caught:
        deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)
    assert ("gcloud services enable aiplatform.googleapis.com --project=test-project"
            in str(caught.value))
