"""Vertex AI Training and batch prediction jobs, and `churn jobs`, against the fake Vertex AI
and a fake Cloud Logging: what is sent, what comes back, and a failed job in one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from typer.testing import CliRunner

from pipeline.backends import backend_for
from pipeline.backends.base import BatchPredictionRequest, TrainingRequest
from pipeline.backends.vertex import naming, upload_run_to_vertex
from pipeline.cli.app import app
from pipeline.config import Config
from pipeline.errors import BackendError, CloudError, DataError
from tests.fakes.fixtures import TEST_BUCKET, TEST_KMS, make_run_dir
from tests.fakes.logging_server import FakeLoggingServer
from tests.fakes.vertex_server import FakeVertexServer

runner = CliRunner()
DATA = f"gs://{TEST_BUCKET}/datasets/churn/customers.csv"
SA = "trainer@test-project.iam.gserviceaccount.com"


@pytest.fixture
def fake_logging() -> Iterator[FakeLoggingServer]:
    with FakeLoggingServer() as server:
        yield server


@pytest.fixture
def jobs_config(vertex_config: Config, fake_logging: FakeLoggingServer) -> Config:
    """vertex_config with multi-worker GPU training, a service account and the fake logging."""
    return vertex_config.model_copy(update={"vertex": vertex_config.vertex.model_copy(update={
        "service_account": SA, "logging_api_endpoint": fake_logging.url, "image": "us-docker.pkg.dev/p/r/churn:1",
        "training": vertex_config.vertex.training.model_copy(update={
            "replica_count": 3, "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}),
    })})


def _sets(config: Config) -> list[str]:
    """--set options that rebuild `config` on the command line (tmp paths, fakes)."""
    vertex = config.vertex
    values = {"backend": "vertex", "paths.artifacts": str(config.paths.artifacts),
              "data.path": str(config.data.path), "vertex.project": vertex.project,
              "vertex.bucket": vertex.bucket, "vertex.api_endpoint": vertex.api_endpoint,
              "vertex.logging_api_endpoint": vertex.logging_api_endpoint, "vertex.image": vertex.image,
              "vertex.service_account": vertex.service_account, "vertex.kms_key_name": vertex.kms_key_name,
              "vertex.training.replica_count": vertex.training.replica_count,
              "registry.labels": "{team: data-science}"}
    return [arg for key, value in values.items() if value is not None for arg in ("--set", f"{key}={value}")]


def test_train_target_vertex_submits_a_custom_job(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    config = jobs_config.model_copy(update={"train": jobs_config.train.model_copy(update={"epochs": 3})})
    result = backend_for(config, target="vertex").jobs.train(TrainingRequest(data=DATA))

    (body,) = fake_vertex.bodies("createCustomJob")
    spec = body["jobSpec"]
    chief, workers = spec["workerPoolSpecs"]
    assert (chief["replicaCount"], workers["replicaCount"]) == ("1", "2")  # 1 chief + 2 workers
    accelerator = chief["machineSpec"].pop("acceleratorType")  # REST sends enums as numbers
    assert aiplatform_v1.AcceleratorType(accelerator).name == "NVIDIA_TESLA_T4"
    assert chief["machineSpec"] == {"machineType": "n1-standard-4", "acceleratorCount": 1}
    assert chief["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100}
    container = chief["containerSpec"]
    assert container["imageUri"] == naming.image_uri(config) == "us-docker.pkg.dev/p/r/churn:1"
    assert container["command"] == ["python", "-m", "pipeline"]
    run_id = result.job.labels["run_id"]
    assert container["args"][:5] == ["train", "--data", DATA, "--run-dir", f"/tmp/churn/runs/{run_id}"]
    assert "train.epochs=3" in container["args"] and f"vertex.kms_key_name={TEST_KMS}" in " ".join(
        container["args"]).replace('"', "")
    assert spec["baseOutputDirectory"] == {"outputUriPrefix": f"gs://{TEST_BUCKET}/training/{run_id}/"}
    assert spec["serviceAccount"] == SA and spec["scheduling"]["timeout"] == "14400s"
    assert body["encryptionSpec"] == {"kmsKeyName": TEST_KMS}
    assert naming.is_managed(body["labels"], config) and body["labels"]["team"] == "data-science"
    assert result.run_dir is None and result.job.state == "JOB_STATE_PENDING"
    assert result.job.output == f"gs://{TEST_BUCKET}/training/{run_id}/run/"


def test_train_passes_a_bigquery_table_through(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    backend_for(jobs_config, target="vertex").jobs.train(TrainingRequest(data="bq://test-project.crm.customers"))
    (body,) = fake_vertex.bodies("createCustomJob")
    assert body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"][1:3] == [
        "--data", "bq://test-project.crm.customers"]


def test_train_on_vertex_refuses_a_local_file(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    with pytest.raises(DataError) as refused:
        backend_for(jobs_config, target="vertex").jobs.train(TrainingRequest(data="data/sample/x.csv"))
    message = str(refused.value)
    assert "gs:// or bq://" in message
    assert f"gcloud storage cp data/sample/x.csv {naming.training_data_uri(jobs_config)}" in message
    assert "\n" not in message and fake_vertex.calls("createCustomJob") == []


def test_cli_train_target_vertex_prints_the_job(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    result = runner.invoke(app, ["train", "--target", "vertex", "--data", DATA, *_sets(jobs_config)])
    assert result.exit_code == 0, result.output
    (job,) = fake_vertex.jobs.store.custom
    assert result.output.strip().splitlines()[-1] == job
    assert "churn jobs show" in result.output


def _failed_training_job(config: Config, fake_vertex: FakeVertexServer, fake_logging: FakeLoggingServer) -> str:
    job = backend_for(config, target="vertex").jobs.train(TrainingRequest(data=DATA)).job
    fake_vertex.jobs.finish(job.name, "JOB_STATE_FAILED",
                            "The replica workerpool0-0 exited with a non-zero status of 2.\nTo find out more ...")
    fake_logging.add(job.id, "Loading and validating data", "INFO")
    fake_logging.add(job.id, "Traceback (most recent call last):\n  File x\nValueError: unrelated earlier")
    fake_logging.add(job.id, f"error: {DATA}: row 7, column 'tenure': expected a number, got 'abc'")
    fake_logging.add("999", "error: another job's failure")
    return job.name


def test_a_failed_job_says_why_in_one_line(jobs_config: Config, fake_vertex: FakeVertexServer,
                                           fake_logging: FakeLoggingServer) -> None:
    name = _failed_training_job(jobs_config, fake_vertex, fake_logging)

    job = backend_for(jobs_config).jobs.show(name.rsplit("/", 1)[-1])

    assert job.state == "JOB_STATE_FAILED" and "\n" not in job.error
    assert "exited with a non-zero status of 2" in job.error
    assert f"last error logged: {DATA}: row 7, column 'tenure': expected a number" in job.error
    assert "another job" not in job.error and "gcloud ai custom-jobs stream-logs" in job.error
    (query,) = fake_logging.bodies("listEntries")
    assert f'resource.labels.job_id="{job.id}"' in query["filter"] and 'resource.type="ml_job"' in query["filter"]


def test_cli_jobs_show_wait_exits_2_with_the_error(jobs_config: Config, fake_vertex: FakeVertexServer,
                                                   fake_logging: FakeLoggingServer) -> None:
    name = _failed_training_job(jobs_config, fake_vertex, fake_logging)
    result = runner.invoke(app, ["jobs", "show", name.rsplit("/", 1)[-1], "--wait", *_sets(jobs_config)],
                           env={"COLUMNS": "300"})
    assert result.exit_code != 0  # main() turns the PipelineError into one line and exit 2
    assert isinstance(result.exception, CloudError) and "row 7, column 'tenure'" in str(result.exception)


def test_unreadable_logs_still_give_the_job_error(jobs_config: Config, fake_vertex: FakeVertexServer,
                                                  fake_logging: FakeLoggingServer) -> None:
    name = _failed_training_job(jobs_config, fake_vertex, fake_logging)
    fake_logging.fail_next("listEntries", "caller lacks logging.logEntries.list", http_status=403)
    job = backend_for(jobs_config).jobs.show(name)
    assert "exited with a non-zero status of 2" in job.error and "logs could not be read" in job.error


def test_jobs_list_shows_only_this_projects_jobs(jobs_config: Config, fake_vertex: FakeVertexServer,
                                                 tmp_path: Path) -> None:
    ours = backend_for(jobs_config, target="vertex").jobs.train(TrainingRequest(data=DATA)).job
    fake_vertex.jobs.add_custom_job({"team": "other"})
    pipeline = fake_vertex.jobs.add_pipeline_job(naming.managed_labels(jobs_config))

    found = backend_for(jobs_config).jobs.list_jobs()

    assert {j.name for j in found} == {ours.name, pipeline}
    result = runner.invoke(app, ["jobs", "list", *_sets(jobs_config)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert ours.id in result.output and "someone-elses-job" not in result.output


def test_jobs_cancel_stops_ours_and_refuses_others(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    ours = backend_for(jobs_config, target="vertex").jobs.train(TrainingRequest(data=DATA)).job
    other = fake_vertex.jobs.add_custom_job({"team": "other"})
    jobs = backend_for(jobs_config).jobs

    outcome = jobs.cancel(ours.id)

    assert outcome.details["state"] == "JOB_STATE_CANCELLED"
    with pytest.raises(CloudError, match="does not carry this project's labels"):
        jobs.cancel(other)
    assert fake_vertex.jobs.store.custom[other]["state"] == "JOB_STATE_RUNNING"
    with pytest.raises(CloudError, match="no custom, batch prediction or pipeline job with id 424242"):
        jobs.show("424242")


@pytest.fixture
def champion(vertex_config: Config, tmp_path: Path) -> dict[str, Any]:
    return upload_run_to_vertex(vertex_config, make_run_dir(tmp_path / "a", "run-a"), ["champion"], dry_run=False)


def test_predict_target_vertex_submits_a_batch_prediction_job(
        jobs_config: Config, fake_vertex: FakeVertexServer, champion: dict[str, Any]) -> None:
    request = BatchPredictionRequest(input=f"gs://{TEST_BUCKET}/customers/*.jsonl",
                                     output=f"gs://{TEST_BUCKET}/scores", model_ref="churn@champion")
    result = backend_for(jobs_config, target="vertex").jobs.batch_predict(request)

    (body,) = fake_vertex.bodies("createBatchPredictionJob")
    assert body["model"].endswith("@1") and body["model"].startswith("projects/test-project/")
    assert body["inputConfig"] == {"instancesFormat": "jsonl",
                                   "gcsSource": {"uris": [f"gs://{TEST_BUCKET}/customers/*.jsonl"]}}
    # customerID is kept with each prediction (as `key`) and never reaches the model; nor does the label
    assert body["instanceConfig"] == {"instanceType": "object", "keyField": "customerID",
                                      "excludedFields": ["Churn"]}
    assert body["outputConfig"] == {"predictionsFormat": "jsonl",
                                    "gcsDestination": {"outputUriPrefix": f"gs://{TEST_BUCKET}/scores/"}}
    assert body["dedicatedResources"] == {"machineSpec": {"machineType": "n1-standard-4"},
                                          "startingReplicaCount": 1, "maxReplicaCount": 4}
    assert naming.is_managed(body["labels"], jobs_config) and body["serviceAccount"] == SA
    assert body["encryptionSpec"] == {"kmsKeyName": TEST_KMS}
    assert result.model == "churn@1" and result.output == f"gs://{TEST_BUCKET}/scores/"
    assert '{"key": customerID' in result.job.details["where"]


def test_predict_target_vertex_reads_and_writes_bigquery(
        jobs_config: Config, fake_vertex: FakeVertexServer, champion: dict[str, Any]) -> None:
    request = BatchPredictionRequest(input="bq://test-project.crm.customers", output="bq://test-project.scores",
                                     model_ref="churn@champion")
    backend_for(jobs_config, target="vertex").jobs.batch_predict(request)
    (body,) = fake_vertex.bodies("createBatchPredictionJob")
    assert body["inputConfig"] == {"instancesFormat": "bigquery",
                                   "bigquerySource": {"inputUri": "bq://test-project.crm.customers"}}
    assert body["outputConfig"] == {"predictionsFormat": "bigquery",
                                    "bigqueryDestination": {"outputUri": "bq://test-project.scores"}}


@pytest.mark.parametrize(("source", "expected"), [
    ("customers.csv", "not a file on this machine"),
    (f"gs://{TEST_BUCKET}/customers.csv", "load the CSV into BigQuery"),
    ("bq://only.two", "bq://PROJECT.DATASET.TABLE"),
])
def test_predict_target_vertex_refuses_unusable_input(jobs_config: Config, fake_vertex: FakeVertexServer,
                                                      source: str, expected: str) -> None:
    request = BatchPredictionRequest(input=source, output=f"gs://{TEST_BUCKET}/scores", model_ref="churn@champion")
    with pytest.raises(DataError, match=expected):
        backend_for(jobs_config, target="vertex").jobs.batch_predict(request)
    assert fake_vertex.calls("createBatchPredictionJob") == [] and fake_vertex.calls("getModel") == []


def test_cli_predict_target_vertex_says_where_the_output_is(
        jobs_config: Config, fake_vertex: FakeVertexServer, champion: dict[str, Any]) -> None:
    result = runner.invoke(app, ["predict", "--target", "vertex", "--input", "bq://test-project.crm.customers",
                                 "--output", f"gs://{TEST_BUCKET}/scores/", "--model", "churn@champion",
                                 *_sets(jobs_config)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    (job,) = fake_vertex.jobs.store.batch
    assert result.output.strip().splitlines()[-1] == job
    assert f"predictions go to a new folder under gs://{TEST_BUCKET}/scores/" in " ".join(result.output.split())


def test_cli_jobs_need_the_vertex_backend(tmp_path: Path) -> None:
    result = runner.invoke(app, ["jobs", "list", "--set", "backend=local", "--set", f"paths.artifacts={tmp_path}"])
    assert result.exit_code != 0  # main() turns the PipelineError into one line and exit 2
    assert isinstance(result.exception, BackendError) and "no jobs to follow" in str(result.exception)


def test_cli_jobs_show_wait(jobs_config: Config, fake_vertex: FakeVertexServer) -> None:
    job = backend_for(jobs_config, target="vertex").jobs.train(TrainingRequest(data=DATA)).job
    args = ["jobs", "show", job.id, "--wait", *_sets(jobs_config)]

    waited_out = runner.invoke(app, [*args, "--timeout", "0"], env={"COLUMNS": "300"})
    assert waited_out.exit_code != 0 and "still JOB_STATE_PENDING after --timeout 0s" in str(waited_out.exception)

    fake_vertex.jobs.finish(job.name, "JOB_STATE_SUCCEEDED")
    done = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert done.exit_code == 0, done.output
    assert "JOB_STATE_SUCCEEDED" in done.output and f"gs://{TEST_BUCKET}/training/" in done.output
