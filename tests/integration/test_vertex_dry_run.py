"""Dry runs need no credentials and no network; missing settings are one clear line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.backends.vertex import (
    cleanup_vertex,
    deploy_to_vertex,
    monitoring_status,
    setup_alerts,
    setup_model_monitoring,
    undeploy_from_vertex,
    upload_run_to_vertex,
)
from pipeline.cli.app import app
from pipeline.config import Config, load_config
from pipeline.errors import CloudError

ROOT = Path(__file__).resolve().parents[2]
VERTEX_YAML = ROOT / "configs" / "vertex.yaml"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
runner = CliRunner()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere and any network connection fails the test."""
    import google.auth

    def no_credentials(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run looked up credentials")

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run opened a network connection")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")


@pytest.fixture
def example_config() -> Config:
    return load_config(VERTEX_YAML, [
        "vertex.kms_key_name=projects/p/locations/us-central1/keyRings/k/cryptoKeys/c",
        "vertex.logging_bq_table=bq://my-gcp-project.logs.requests"], environ={})


def _gcloud(result: dict[str, Any]) -> str:
    assert result["dry_run"] is True
    return "\n".join(result["plan"]["gcloud"])


def test_upload_dry_run(offline: None, example_config: Config, tmp_path: Path) -> None:
    from tests.fakes.fixtures import make_run_dir

    result = upload_run_to_vertex(example_config, make_run_dir(tmp_path), ["champion"], True)

    commands = _gcloud(result)
    assert "gcloud storage cp -r" in commands
    assert "gs://my-churn-bucket/models/churn/<NEXT_VERSION>/" in commands
    assert (f"gcloud ai models upload --project=my-gcp-project --region=us-central1 "
            f"--display-name=churn --container-image-uri={IMAGE}") in commands
    assert "--parent-model=" in commands and "--version-aliases=champion" in commands
    upload = next(s for s in result["plan"]["steps"] if s["call"] == "aiplatform.Model.upload")
    assert upload["call"] == "aiplatform.Model.upload"
    assert upload["args"]["serving_container_image_uri"] == IMAGE
    assert upload["args"]["encryption_spec_key_name"].endswith("cryptoKeys/c")


def test_deploy_dry_run_with_canary(offline: None, example_config: Config) -> None:
    result = deploy_to_vertex(example_config, "churn@challenger", 10, True)

    commands = _gcloud(result)
    assert ("gcloud ai endpoints create --project=my-gcp-project --region=us-central1 "
            "--display-name=churn-endpoint") in commands
    assert "--request-response-logging-table=bq://my-gcp-project.logs.requests" in commands
    assert "--encryption-kms-key-name=projects/p/locations/us-central1" in commands
    assert ("gcloud ai endpoints deploy-model '<ENDPOINT_ID>'" in commands
            and "--machine-type=n1-standard-2 --min-replica-count=1 --max-replica-count=1"
            in commands)
    assert "--traffic-split='0=10,<DEPLOYED_MODEL_ID>=90'" in commands
    create = next(s for s in result["plan"]["steps"] if s["call"] == "aiplatform.Endpoint.create")
    assert create["args"]["request_response_logging_sampling_rate"] == 1.0


@pytest.mark.parametrize("step", [undeploy_from_vertex, cleanup_vertex, setup_alerts,
                                  setup_model_monitoring, monitoring_status])
def test_other_dry_runs_return_a_plan_with_gcloud_commands(
        offline: None, example_config: Config, step: Any) -> None:
    result = step(example_config, True)
    assert result["plan"]["steps"]
    assert all(c.startswith("gcloud ") for c in result["plan"]["gcloud"])


@pytest.mark.parametrize("args", [
    ["undeploy"], ["cleanup"], ["alerts", "setup"], ["monitoring", "setup"],
    ["monitoring", "status"], ["monitoring", "delete"]])
def test_cli_dry_run_prints_plan_and_gcloud(offline: None, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--config", str(VERTEX_YAML), "--dry-run"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output
    assert "Equivalent gcloud commands:" in result.output
    assert "gcloud " in result.output


def test_cli_help_has_an_example() -> None:
    for args in (["undeploy"], ["cleanup"], ["alerts", "setup"], ["monitoring", "setup"]):
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "Example: churn" in result.output


def test_cli_cleanup_with_local_backend_only_stops_the_local_endpoint(
        offline: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["cleanup", "--set", "backend=local",
                                 "--set", f"paths.artifacts={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert "no local endpoint is running" in result.output


def test_cli_alerts_with_local_backend_says_where_local_alerts_go() -> None:
    result = runner.invoke(app, ["alerts", "setup", "--set", "backend=local",
                                 "--set", "monitor.webhook_url=http://127.0.0.1:9/hook"])
    assert result.exit_code == 0, result.output
    assert "local alerts are sent by `churn monitor`" in result.output and "127.0.0.1:9/hook" in result.output


@pytest.mark.parametrize("dry_run", [True, False])
def test_missing_project_is_one_line(example_config: Config, dry_run: bool) -> None:
    config = example_config.model_copy(update={"vertex": example_config.vertex.model_copy(
        update={"project": None})})
    for step in (undeploy_from_vertex, setup_alerts, setup_model_monitoring):
        with pytest.raises(CloudError) as caught:
            step(config, dry_run)
        message = str(caught.value)
        assert message.startswith("vertex.project is not set")
        assert "--set vertex.project=" in message and "\n" not in message


def test_missing_bucket_is_one_line(example_config: Config, tmp_path: Path) -> None:
    from tests.fakes.fixtures import make_run_dir

    config = example_config.model_copy(update={"vertex": example_config.vertex.model_copy(
        update={"bucket": None})})
    with pytest.raises(CloudError, match="^vertex.bucket is not set"):
        upload_run_to_vertex(config, make_run_dir(tmp_path), [], True)


def test_missing_credentials_is_one_line(example_config: Config,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    config = example_config.model_copy(update={"vertex": example_config.vertex.model_copy(
        update={"project": "real-project", "bucket": "real-bucket"})})
    with pytest.raises(CloudError) as caught:
        undeploy_from_vertex(config, dry_run=False)
    message = str(caught.value)
    assert message.startswith("no usable Google Cloud credentials")
    assert "gcloud auth application-default login" in message and "\n" not in message


def test_example_project_is_refused_for_a_real_run(example_config: Config) -> None:
    with pytest.raises(CloudError, match="vertex.project is still the example value"):
        undeploy_from_vertex(example_config, dry_run=False)
