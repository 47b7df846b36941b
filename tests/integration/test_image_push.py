"""`churn image push`: Cloud Build -> Artifact Registry over REST, against a fake of both APIs
(tests/fakes/cloud_build_server.py) and the GCS emulator; the dry run offline."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.backends.vertex import naming
from pipeline.backends.vertex.cloud_build import push_image
from pipeline.cli.app import app
from pipeline.config import Config
from pipeline.errors import CloudError
from tests.fakes.cloud_build_server import FakeCloudBuildServer
from tests.fakes.fixtures import TEST_BUCKET, TEST_KMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_build() -> Iterator[FakeCloudBuildServer]:
    with FakeCloudBuildServer() as server:
        yield server


@pytest.fixture
def config(vertex_config: Config, fake_build: FakeCloudBuildServer) -> Config:
    vertex = vertex_config.vertex.model_copy(update={"build_api_endpoint": fake_build.url})
    return vertex_config.model_copy(update={"vertex": vertex})


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A project folder: Dockerfile, package, and what .dockerignore keeps out."""
    folder = tmp_path / "project"
    (folder / "pipeline").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM python:3.10-slim\n")
    (folder / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    (folder / "pipeline" / "__init__.py").write_text("")
    (folder / "pipeline" / "__pycache__").mkdir()
    (folder / "pipeline" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    for ignored in (".venv/bin", "artifacts/runs", ".git"):
        (folder / ignored).mkdir(parents=True)
        (folder / ignored / "file").write_text("not for the image")
    return folder


def test_push_creates_the_labelled_repository_uploads_the_context_and_builds(
        config: Config, fake_build: FakeCloudBuildServer, gcs_client: Any, context: Path) -> None:
    result = push_image(config, dry_run=False, context=context)
    image = naming.image_uri(config)
    assert image.startswith("us-central1-docker.pkg.dev/test-project/churn/churn-pipeline:")
    (repository,) = fake_build.bodies("createRepository")
    assert repository["format"] == "DOCKER" and repository["kmsKeyName"] == TEST_KMS
    assert repository["labels"] == naming.managed_labels(config)
    assert fake_build.calls("createRepository")[0].query["repositoryId"] == ["churn"]
    (build,) = fake_build.bodies("createBuild")
    assert build["images"] == [image] and build["steps"][0]["args"] == ["build", "-t", image, "."]
    assert "managed-by-churn-pipeline" in build["tags"]
    source = build["source"]["storageSource"]
    assert source["bucket"] == TEST_BUCKET and source["object"].startswith("cloudbuild/source/")
    archive = gcs_client.bucket(TEST_BUCKET).get_blob(source["object"]).download_as_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "pipeline/__init__.py"]
    assert result["repository_created"] is True and result["status"] == "QUEUED"
    assert result["build"] and result["log_url"].startswith("https://console.cloud.google.com/cloud-build/")

    again = push_image(config, dry_run=False, context=context)  # the repository is there now
    assert again["repository_created"] is False and len(fake_build.calls("createRepository")) == 1


def test_wait_follows_the_build_and_a_failed_one_is_one_line(
        config: Config, fake_build: FakeCloudBuildServer, gcs_client: Any, context: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.backends.vertex.cloud_build as cloud_build

    monkeypatch.setattr(cloud_build, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(cloud_build.time, "sleep", lambda seconds: None)
    assert push_image(config, dry_run=False, context=context, wait=True)["status"] == "SUCCESS"
    fake_build.finish_next("FAILURE", "Step #0: pip install failed: no matching distribution")
    with pytest.raises(CloudError) as error:
        push_image(config, dry_run=False, context=context, wait=True)
    assert "ended FAILURE" in str(error.value) and "no matching distribution" in str(error.value)
    assert "logs: https://" in str(error.value) and "\n" not in str(error.value)


def test_a_refused_build_names_the_project_and_the_reason(
        config: Config, fake_build: FakeCloudBuildServer, gcs_client: Any, context: Path) -> None:
    fake_build.fail_next("createBuild", "Cloud Build API has not been used in project test-project", 403,
                         "PERMISSION_DENIED")
    with pytest.raises(CloudError, match="HTTP 403: Cloud Build API has not been used"):
        push_image(config, dry_run=False, context=context)


def test_no_dockerfile_is_refused_before_any_call(config: Config, fake_build: FakeCloudBuildServer,
                                                  tmp_path: Path) -> None:
    with pytest.raises(CloudError, match="no Dockerfile"):
        push_image(config, dry_run=False, context=tmp_path)
    assert not fake_build.requests


def test_dry_run_plans_cloud_build_and_prints_gcloud_builds_submit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.chdir(ROOT)
    done = CliRunner().invoke(app, ["image", "push", "--dry-run", "--config", str(ROOT / "configs" / "vertex.yaml"),
                                    "--set", f"paths.artifacts={tmp_path}"])
    assert done.exit_code == 0, done.output
    (folder,) = (tmp_path / "plans").iterdir()
    script = (folder / "plan.sh").read_text()
    image = "us-central1-docker.pkg.dev/my-gcp-project/churn/churn-pipeline:"
    assert f"gcloud builds submit {ROOT} --tag={image}" in script and "--project=my-gcp-project" in script
    assert "gcloud artifacts repositories create churn --repository-format=docker --location=us-central1" in script
    (plan,) = json.loads((folder / "plan.json").read_text())
    calls = [s["call"] for s in plan["steps"]]
    assert calls == ["artifactregistry.repositories.create", "storage.Blob.upload_from_filename",
                     "cloudbuild.projects.locations.builds.create"]
    assert plan["steps"][2]["args"]["build"]["images"][0].startswith(image)
