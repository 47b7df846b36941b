"""`churn pipeline run --target vertex` and `churn pipeline schedule` against the fake Vertex
AI server (pipelineJobs, schedules) and the GCS emulator: what the SDK sends, the labels
cleanup finds them by, one clear line when something is refused; dry runs offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.backends.vertex import naming
from pipeline.backends.vertex.pipeline_jobs import pipeline_job_state, schedule_name
from pipeline.cli.app import app
from pipeline.config import Config
from pipeline.errors import CloudError, PipelineError
from pipeline.orchestration.runner import run_pipeline, schedule_pipeline
from tests.fakes.fixtures import TEST_BUCKET, TEST_KMS
from tests.fakes.vertex_server import FakeVertexServer

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def project_number(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """PipelineJob.submit asks Resource Manager for the project number (to check who owns the
    pipeline root's bucket): answered here, offline, as the real API would for the project."""
    from google.cloud.aiplatform.utils import resource_manager_utils

    asked: list[str] = []

    def number(project: str, *args: Any, **kwargs: Any) -> int:
        asked.append(project)
        return 123456789012

    monkeypatch.setattr(resource_manager_utils, "get_project_number", number)
    return asked


def _with_account(config: Config) -> Config:
    vertex = config.vertex.model_copy(update={"service_account": "churn-runner@test-project.iam.gserviceaccount.com"})
    return config.model_copy(update={"vertex": vertex})


def test_run_submits_a_labelled_pipeline_job_reading_the_staged_data(
        vertex_config: Config, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    config = _with_account(vertex_config)
    result = run_pipeline(config, "vertex", None, deploy=True, dry_run=False)
    (body,) = fake_vertex.bodies("createPipelineJob")
    assert body["labels"] == naming.managed_labels(config)
    assert body["labels"]["managed-by"] == "churn-pipeline"
    assert body["serviceAccount"] == "churn-runner@test-project.iam.gserviceaccount.com"
    assert body["encryptionSpec"] == {"kmsKeyName": TEST_KMS}
    runtime = body["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == f"gs://{TEST_BUCKET}/pipelines"
    values = runtime["parameterValues"]
    staged = f"gs://{TEST_BUCKET}/datasets/churn/customer_churn.csv"
    assert values["data_uri"] == staged and values["deploy"] is True and values["model_name"] == "churn"
    assert Config.model_validate(json.loads(values["config"])).vertex.project == "test-project"
    blob = gcs_client.bucket(TEST_BUCKET).get_blob("datasets/churn/customer_churn.csv")
    assert blob.download_as_bytes() == Path(config.data.path).read_bytes()
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "gate-model" in tasks and "setup-monitoring" in tasks
    call = fake_vertex.calls("createPipelineJob")[0]
    job_id = call.query["pipelineJobId"][0]
    assert result["job"].endswith(f"/pipelineJobs/{job_id}") and result["state"] == "PIPELINE_STATE_RUNNING"
    assert Path(result["template"]).is_file()

    fake_vertex.jobs.finish(result["job"], "PIPELINE_STATE_FAILED", error="The DAG failed because gate-model failed")
    state = pipeline_job_state(config, job_id)
    assert state["state"] == "PIPELINE_STATE_FAILED" and "gate-model failed" in state["error"]
    assert set(state["tasks"]) >= {"validate-data", "train-model"}
    assert naming.is_managed(state["labels"], config)


def test_run_with_gs_data_stages_nothing(vertex_config: Config, fake_vertex: FakeVertexServer,
                                         gcs_client: Any) -> None:
    run_pipeline(vertex_config, "vertex", f"gs://{TEST_BUCKET}/in/new.csv", deploy=False, dry_run=False)
    values = fake_vertex.bodies("createPipelineJob")[0]["runtimeConfig"]["parameterValues"]
    assert values["data_uri"] == f"gs://{TEST_BUCKET}/in/new.csv" and values["deploy"] is False
    assert not list(gcs_client.list_blobs(TEST_BUCKET))


def test_a_refused_job_is_one_clear_line(vertex_config: Config, fake_vertex: FakeVertexServer) -> None:
    fake_vertex.fail_next("createPipelineJob", "Permission 'aiplatform.pipelineJobs.create' denied", 403,
                          "PERMISSION_DENIED")
    with pytest.raises(CloudError) as error:
        run_pipeline(vertex_config, "vertex", None, deploy=True, dry_run=False)
    assert "\n" not in str(error.value) and "pipelineJobs.create" in str(error.value)


def test_schedule_creates_one_weekly_retrain_and_replaces_only_ours(
        vertex_config: Config, fake_vertex: FakeVertexServer) -> None:
    first = schedule_pipeline(vertex_config, None, "0 3 * * 1", None, replace=False, dry_run=False)
    (body,) = fake_vertex.bodies("createSchedule")
    assert body["cron"] == "0 3 * * 1" and body["displayName"] == schedule_name(vertex_config)
    assert int(body["maxConcurrentRunCount"]) == 1
    job = body["createPipelineJobRequest"]["pipelineJob"]
    assert job["labels"] == naming.managed_labels(vertex_config)
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{TEST_BUCKET}/pipelines"
    assert first["schedule"] in fake_vertex.jobs.store.schedules

    with pytest.raises(CloudError, match="already exists.*--replace"):
        schedule_pipeline(vertex_config, None, "0 4 * * 1", None, replace=False, dry_run=False)
    # Someone else's schedule with our name but not our labels is not ours to delete.
    foreign = dict(fake_vertex.jobs.store.schedules[first["schedule"]], name="x")
    foreign["createPipelineJobRequest"] = {"pipelineJob": {**job, "labels": {"team": "other"}}}
    theirs = "projects/test-project/locations/us-central1/schedules/9"
    fake_vertex.jobs.store.schedules[theirs] = foreign
    second = schedule_pipeline(vertex_config, None, "0 4 * * 1", None, replace=True, dry_run=False)
    assert second["replaced"] == [first["schedule"]]
    assert set(fake_vertex.jobs.store.schedules) == {second["schedule"], theirs}


def test_schedule_refuses_a_malformed_cron_before_any_call(vertex_config: Config, fake_vertex: FakeVertexServer
                                                           ) -> None:
    with pytest.raises(CloudError, match="5 fields"):
        schedule_pipeline(vertex_config, None, "every monday", None, replace=False, dry_run=False)
    assert not fake_vertex.requests


def test_schedules_need_vertex(tmp_path: Path) -> None:
    local = Config.model_validate({"paths": {"artifacts": str(tmp_path)}})
    with pytest.raises(PipelineError, match="crontab line: 0 3 \\* \\* 1 .*--target local"):
        schedule_pipeline(local, None, "0 3 * * 1", None, replace=False, dry_run=False)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run looked up credentials or opened a connection")

    monkeypatch.setattr(google.auth, "default", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_dry_runs_print_the_request_and_write_a_runnable_plan(offline: None, tmp_path: Path) -> None:
    sets = ["--config", str(ROOT / "configs" / "vertex.yaml"), "--set", f"paths.artifacts={tmp_path}",
            "--set", "vertex.service_account=sa@p.iam.gserviceaccount.com"]
    done = runner.invoke(app, ["pipeline", "run", "--target", "vertex", "--dry-run", *sets])
    assert done.exit_code == 0, done.output
    assert "pipelineJobs?pipelineJobId=churn-pipeline-" in done.output and "gcloud storage cp" in done.output
    done = runner.invoke(app, ["pipeline", "schedule", "--cron", "0 3 * * 1", "--dry-run", *sets])
    assert done.exit_code == 0, done.output
    run_plan, schedule_plan = sorted((tmp_path / "plans").iterdir())
    job = json.loads((run_plan / "pipeline_job.json").read_text())
    assert job["labels"] == {"managed-by": "churn-pipeline", "churn-model": "churn"}
    assert job["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://my-churn-bucket/pipelines"
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "churn-pipeline"
    script = (run_plan / "plan.sh").read_text()
    assert f"--data-binary @{run_plan.resolve()}/pipeline_job.json" in script
    assert "gcloud ai pipeline" not in script  # there is no such gcloud command
    schedule = json.loads((schedule_plan / "schedule.json").read_text())
    assert schedule["cron"] == "0 3 * * 1"
    assert schedule["createPipelineJobRequest"]["pipelineJob"]["labels"]["managed-by"] == "churn-pipeline"
    plan = json.loads((schedule_plan / "plan.json").read_text())
    assert [s["call"] for s in plan[0]["steps"]][-1] == "aiplatform.PipelineJobSchedule(PipelineJob(...)).create"
    spec = yaml.safe_load((tmp_path / "pipeline" / "churn_pipeline.yaml").read_text())
    (image,) = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert image.startswith("us-central1-docker.pkg.dev/my-gcp-project/churn/churn-pipeline:")


def test_local_target_has_no_dry_run(tmp_path: Path) -> None:
    done = runner.invoke(app, ["pipeline", "run", "--target", "local", "--dry-run", "--set",
                               f"paths.artifacts={tmp_path}"])
    assert done.exit_code != 0 and isinstance(done.exception, PipelineError)
    assert "--dry-run plans the calls to Vertex AI" in str(done.exception)


def test_cleanup_removes_the_jobs_and_schedules_these_commands_made(
        vertex_config: Config, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    from pipeline.backends.vertex import cleanup_vertex

    job = run_pipeline(vertex_config, "vertex", None, deploy=True, dry_run=False)["job"]
    schedule = schedule_pipeline(vertex_config, None, "0 3 * * 1", None, replace=False, dry_run=False)["schedule"]
    theirs = fake_vertex.jobs.add_pipeline_job({"team": "other"})
    cleanup_vertex(vertex_config, dry_run=False)
    assert job not in fake_vertex.jobs.store.pipeline and schedule not in fake_vertex.jobs.store.schedules
    assert theirs in fake_vertex.jobs.store.pipeline
