"""`upload_run_to_vertex` against the fake Vertex REST API and the GCS emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.backends.vertex import upload_run_to_vertex
from pipeline.config import Config
from pipeline.errors import CloudError, RunDirError
from tests.fakes.fixtures import TEST_BUCKET, TEST_KMS, make_run_dir
from tests.fakes.vertex_server import FakeVertexServer

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"


def _objects(gcs_client: Any, prefix: str) -> set[str]:
    return {b.name for b in gcs_client.list_blobs(TEST_BUCKET, prefix=prefix)}


def test_first_upload_copies_model_and_registers_version_1(
        vertex_config: Config, fake_run_dir: Path, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    result = upload_run_to_vertex(vertex_config, fake_run_dir, ["champion"], dry_run=False)

    assert result["version_id"] == "1"
    assert result["artifact_uri"] == f"gs://{TEST_BUCKET}/models/churn/1/"
    assert _objects(gcs_client, "models/churn/1/") == {
        "models/churn/1/saved_model.pb", "models/churn/1/fingerprint.pb",
        "models/churn/1/variables/variables.index",
        "models/churn/1/variables/variables.data-00000-of-00001"}
    landed = gcs_client.bucket(TEST_BUCKET).blob("models/churn/1/saved_model.pb").download_as_bytes()
    assert landed == (fake_run_dir / "model" / "saved_model.pb").read_bytes()

    (body,) = fake_vertex.bodies("upload")
    model = body["model"]
    assert "parentModel" not in body
    assert model["displayName"] == "churn"
    assert model["containerSpec"]["imageUri"] == IMAGE
    assert model["artifactUri"] == f"gs://{TEST_BUCKET}/models/churn/1/"
    assert model["versionAliases"] == ["champion", "default"]
    assert model["encryptionSpec"] == {"kmsKeyName": TEST_KMS}
    assert model["labels"] == {"team": "data-science", "cost_center": "42",
                               "managed-by": "churn-pipeline", "churn-model": "churn",
                               "run_id": "20250101-120000-abc123"}
    assert model["versionDescription"] == "run 20250101-120000-abc123; test ROC-AUC 0.8431"
    assert set(result["aliases"]) == {"champion", "default"}


def test_second_upload_is_a_new_version_of_the_same_model(
        vertex_config: Config, tmp_path: Path, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    first = upload_run_to_vertex(vertex_config, make_run_dir(tmp_path / "a", "run-a"),
                                 ["champion"], dry_run=False)
    second = upload_run_to_vertex(vertex_config, make_run_dir(tmp_path / "b", "run-b"),
                                  ["challenger"], dry_run=False)

    assert second["version_id"] == "2"
    assert second["resource_name"] == first["resource_name"]
    upload_bodies = fake_vertex.bodies("upload")
    assert upload_bodies[1]["parentModel"] == first["resource_name"]
    assert upload_bodies[1]["model"]["artifactUri"] == f"gs://{TEST_BUCKET}/models/churn/2/"
    assert upload_bodies[1]["model"]["versionAliases"] == ["challenger", "default"]
    assert _objects(gcs_client, "models/churn/2/")
    versions = {v["versionId"]: v["versionAliases"]
                for v in fake_vertex.versions(first["resource_name"])}
    assert versions == {"1": ["champion"], "2": ["challenger", "default"]}


def test_leftovers_of_an_unregistered_upload_are_replaced(
        vertex_config: Config, fake_run_dir: Path, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    gcs_client.bucket(TEST_BUCKET).blob("models/churn/1/stale.txt").upload_from_string("old")
    fake_vertex.fail_next("upload", "quota", http_status=429, status="RESOURCE_EXHAUSTED")

    with pytest.raises(CloudError, match="quota exceeded"):
        upload_run_to_vertex(vertex_config, fake_run_dir, [], dry_run=False)
    result = upload_run_to_vertex(vertex_config, fake_run_dir, [], dry_run=False)

    assert result["version_id"] == "1"
    assert "models/churn/1/stale.txt" not in _objects(gcs_client, "models/churn/1/")


def test_missing_bucket_is_one_clear_line(vertex_config: Config, fake_run_dir: Path) -> None:
    config = vertex_config.model_copy(update={"vertex": vertex_config.vertex.model_copy(
        update={"bucket": "no-such-bucket"})})
    with pytest.raises(CloudError) as caught:
        upload_run_to_vertex(config, fake_run_dir, [], dry_run=False)
    message = str(caught.value)
    assert "gs://no-such-bucket does not exist" in message
    assert "gcloud storage buckets create" in message and "\n" not in message


def test_run_dir_without_model_is_refused(vertex_config: Config, tmp_path: Path) -> None:
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(RunDirError, match="no exported model"):
        upload_run_to_vertex(vertex_config, tmp_path / "empty-run", [], dry_run=False)


def test_invalid_alias_is_refused_before_any_call(
        vertex_config: Config, fake_run_dir: Path, fake_vertex: FakeVertexServer) -> None:
    with pytest.raises(CloudError, match="alias 'Bad_Alias' is not valid"):
        upload_run_to_vertex(vertex_config, fake_run_dir, ["Bad_Alias"], dry_run=False)
    assert fake_vertex.requests == []
