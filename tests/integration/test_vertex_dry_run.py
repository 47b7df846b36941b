"""Dry runs need no credentials and no network; missing settings are one clear line."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.backends.vertex import (
    cleanup_vertex,
    deploy_to_vertex,
    monitoring_status,
    naming,
    setup_alerts,
    setup_model_monitoring,
    undeploy_from_vertex,
    upload_run_to_vertex,
)
from pipeline.backends.vertex.plan import fill_placeholders, placeholders_in
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
    # gcloud, or curl for the REST calls gcloud has no command for (pipeline schedules, batch jobs)
    assert all(c.startswith(("gcloud ", "curl ")) for c in result["plan"]["gcloud"])


DRY_RUN_COMMANDS = [
    ["undeploy"], ["cleanup"], ["alerts", "setup"], ["monitoring", "setup"],
    ["monitoring", "status"], ["monitoring", "delete"], ["deploy", "--model", "churn@champion"],
    ["models", "promote", "3", "--alias", "champion"], ["models", "rollback"], ["upload", "RUN"]]
# A flag that names a file gcloud reads, e.g. --policy-from-file=PATH, --monitoring-config-from-file=PATH.
FILE_FLAG = re.compile(r"--[a-z-]*(?:file|schema)=(\S+)")


def _dry_run(args: list[str], tmp_path: Path) -> tuple[Any, Path]:
    """Run a CLI dry run with artifacts under tmp_path; returns the result and its plan folder."""
    from tests.fakes.fixtures import make_run_dir

    args = [str(make_run_dir(tmp_path)) if a == "RUN" else a for a in args]
    result = runner.invoke(app, [*args, "--config", str(VERTEX_YAML), "--dry-run",
                                 "--set", f"paths.artifacts={tmp_path / 'artifacts'}",
                                 "--set", "monitor.alert_emails=[ops@example.com]"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    folders = sorted((tmp_path / "artifacts" / "plans").iterdir())
    assert len(folders) == 1, folders
    return result, folders[0]


@pytest.mark.parametrize("args", DRY_RUN_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_cli_dry_run_prints_plan_and_gcloud(offline: None, args: list[str], tmp_path: Path) -> None:
    result, folder = _dry_run(args, tmp_path)
    assert "Dry run" in result.output
    assert "Equivalent gcloud commands:" in result.output
    assert "gcloud " in result.output
    assert f"Plan written to {folder}/" in " ".join(result.output.split())


@pytest.mark.parametrize("args", DRY_RUN_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_cli_dry_run_leaves_a_runnable_plan_folder(offline: None, args: list[str],
                                                   tmp_path: Path) -> None:
    _, folder = _dry_run(args, tmp_path)
    plans = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    script = (folder / "plan.sh").read_text(encoding="utf-8")
    assert plans and all(p["steps"] for p in plans)
    assert script.startswith("#!/usr/bin/env bash") and "\nset -euo pipefail\n" in script
    assert os.access(folder / "plan.sh", os.X_OK)
    assert subprocess.run(["bash", "-n", str(folder / "plan.sh")], check=False).returncode == 0
    commands = [line for line in script.splitlines() if line.startswith(("gcloud ", "curl "))]
    # The printed lines, with the values only a real run knows as shell variables.
    assert commands == [fill_placeholders(line, {n: f'"${{{n}}}"' for n in placeholders_in(line)})
                        for p in plans for line in p["gcloud"]]
    assert "<PLAN_DIR>" not in script and "<PLAN_DIR>" not in json.dumps(plans)
    for line in commands:
        for word in shlex.split(line):
            if word.startswith(str(folder)):
                _assert_readable(Path(word))
            for path in FILE_FLAG.findall(word):
                if not path.startswith("gs://"):
                    _assert_readable(Path(path))
    written = {f.name for f in folder.iterdir()} - {"plan.json", "plan.sh"}
    assert written == {name for p in plans for s in p["steps"] for name in s["files"]}


def _assert_readable(path: Path) -> None:
    assert path.is_file(), f"{path} is named by plan.sh but was not written"
    text = path.read_text(encoding="utf-8")
    parsed = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert parsed


def test_plan_sh_sets_the_placeholders_as_checked_variables(offline: None, tmp_path: Path) -> None:
    _, folder = _dry_run(["monitoring", "setup"], tmp_path)
    script = (folder / "plan.sh").read_text(encoding="utf-8")
    assert ': "${ENDPOINT_ID:?set ENDPOINT_ID to' in script
    assert "--endpoint=''\"${ENDPOINT_ID}\"''" in script
    # The objective file gets the deployed model id filled in before the create line runs.
    assert "-e 's|<DEPLOYED_MODEL_ID>|'\"${DEPLOYED_MODEL_ID}\"'|g'" in script
    empty = subprocess.run(["bash", str(folder / "plan.sh")], capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"]}, check=False)
    assert empty.returncode != 0 and ": set JOB_ID to the id of" in empty.stderr  # nothing ran


def _flag(command: str, name: str) -> str:
    values = [w.split("=", 1)[1] for w in shlex.split(command) if w.startswith(f"--{name}=")]
    assert len(values) == 1, (name, command)
    return values[0]


def _labels(command: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in _flag(command, "labels").split(","))


def _step(result: dict[str, Any], call: str) -> dict[str, Any]:
    return next(s for s in result["plan"]["steps"] if s["call"] == call)


def test_upload_gcloud_line_carries_the_api_labels(offline: None, example_config: Config,
                                                  tmp_path: Path) -> None:
    from tests.fakes.fixtures import make_run_dir

    result = upload_run_to_vertex(example_config, make_run_dir(tmp_path), ["champion"], True,
                                  labels={"team": "growth"})
    upload = _step(result, "aiplatform.Model.upload")
    labels = _labels(upload["gcloud"])
    assert labels == upload["args"]["labels"]
    assert labels == naming.managed_labels(example_config, {
        "team": "growth", naming.RUN_ID_LABEL: "20250101-120000-abc123"})
    assert naming.is_managed(labels, example_config)  # the project's commands find it
    assert _flag(upload["gcloud"], "version-description") == upload["args"]["version_description"]
    # gcloud has no flag for the key: the plan says so instead of dropping it silently.
    assert any("encryption_spec_key_name" in n and "no flag" in n for n in result["plan"]["notes"])


def test_monitoring_gcloud_line_carries_the_api_settings(offline: None,
                                                        example_config: Config) -> None:
    config = example_config.model_copy(update={"monitor": example_config.monitor.model_copy(
        update={"alert_emails": ["ops@example.com"], "thresholds": {"tenure": 0.1}})})
    result = setup_model_monitoring(config, True)
    create = _step(result, "aiplatform.ModelDeploymentMonitoringJob.create")
    command, args = create["gcloud"], create["args"]
    labels = _labels(command)
    assert labels == args["labels"] == naming.managed_labels(config)
    assert naming.is_managed(labels, config)
    assert _flag(command, "kms-key") == args["encryption_spec_key_name"]
    assert _flag(command, "emails") == "ops@example.com"
    assert float(_flag(command, "prediction-sampling-rate")) == \
        args["logging_sampling_strategy"]["sample_rate"]
    assert int(_flag(command, "monitoring-frequency")) == args["schedule_config"]["monitor_interval"]
    assert _flag(command, "predict-instance-schema") == args["predict_instance_schema_uri"]
    assert "--anomaly-cloud-logging" in command.split()
    objectives = yaml.safe_load(create["files"]["monitoring_objectives.yaml"])
    [objective] = objectives["modelDeploymentMonitoringObjectiveConfigs"]
    config_of = objective["objectiveConfig"]
    skew = config_of["trainingPredictionSkewDetectionConfig"]["skewThresholds"]
    drift = config_of["predictionDriftDetectionConfig"]["driftThresholds"]
    assert skew["tenure"] == drift["tenure"] == {"value": 0.1}
    assert {f: v["value"] for f, v in skew.items()} == \
        args["objective_configs"]["<DEPLOYED_MODEL_ID>"]["skew_detection"]["skew_thresholds"]
    assert config_of["trainingDataset"]["gcsSource"]["uris"] == [naming.training_data_uri(config)]
    schema_step = next(s for s in result["plan"]["steps"] if "instance_schema.yaml" in s["files"])
    assert yaml.safe_load(schema_step["files"]["instance_schema.yaml"]) == schema_step["args"]["content"]


def test_deploy_gcloud_lines_equal_the_api_args(offline: None, example_config: Config) -> None:
    result = deploy_to_vertex(example_config, "churn@champion", None, True)
    create = _step(result, "aiplatform.Endpoint.create")
    assert _labels(create["gcloud"]) == create["args"]["labels"]
    assert naming.is_managed(_labels(create["gcloud"]), example_config)
    deploy = _step(result, "aiplatform.Model.deploy")
    for flag, arg in (("machine-type", "machine_type"), ("min-replica-count", "min_replica_count"),
                      ("max-replica-count", "max_replica_count")):
        assert _flag(deploy["gcloud"], flag) == str(deploy["args"][arg])
    assert _flag(deploy["gcloud"], "traffic-split") == ",".join(
        f"{k}={v}" for k, v in deploy["args"]["traffic_split"].items())


def test_alert_policy_files_are_the_api_policies(offline: None, example_config: Config) -> None:
    result = setup_alerts(example_config.model_copy(update={"monitor": example_config.monitor.model_copy(
        update={"alert_emails": ["ops@example.com"]})}), True)
    policies = [s for s in result["plan"]["steps"] if s["call"].endswith("create_alert_policy")]
    assert len(policies) == 2
    for step in policies:
        [(name, content)] = step["files"].items()
        assert _flag(step["gcloud"], "policy-from-file") == f"<PLAN_DIR>/{name}"
        policy = json.loads(content)
        assert policy == step["args"]["alert_policy"]
        assert naming.is_managed(policy["userLabels"], example_config)
        assert policy["notificationChannels"] == ["<CHANNEL_1>"]


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
