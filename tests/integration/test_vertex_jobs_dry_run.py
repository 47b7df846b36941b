"""Dry runs of the job commands: no credentials, no network; the plan folder's lines run
(gcloud for custom jobs, the same REST call with curl where gcloud has no command)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.errors import BackendError
from tests.integration.test_vertex_dry_run import _dry_run, offline  # noqa: F401 - the fixture

runner = CliRunner()
DATA = "gs://my-churn-bucket/datasets/churn/customer_churn.csv"


def _script_lines(folder: Path, start: str) -> list[str]:
    script = (folder / "plan.sh").read_text(encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(folder / "plan.sh")], check=False).returncode == 0
    return [line for line in script.splitlines() if line.startswith(start)]


def test_train_dry_run_plans_the_custom_job(offline: None, tmp_path: Path) -> None:  # noqa: F811
    result, folder = _dry_run(["train", "--target", "vertex", "--data", DATA, "--set", "train.epochs=3",
                               "--set", "train.hidden_units=[128,64]", "--set", "vertex.training.replica_count=3",
                               "--set", "vertex.service_account=sa@my-gcp-project.iam.gserviceaccount.com"],
                              tmp_path)
    assert "Dry run" in result.output
    (line,) = _script_lines(folder, "gcloud ai custom-jobs create")
    words = shlex.split(line)
    pools = [w.split("=", 1)[1] for w in words if w.startswith("--worker-pool-spec=")]
    assert [dict(kv.split("=", 1) for kv in p.split(","))["replica-count"] for p in pools] == ["1", "2"]
    assert all("container-image-uri=us-central1-docker.pkg.dev/my-gcp-project/churn/churn-pipeline:" in p
               for p in pools)
    assert "--region=us-central1" in words and "--command=python,-m,pipeline" in words
    args = next(w for w in words if w.startswith("--args="))
    assert args.startswith("--args=^|^train|--data|" + DATA)  # a comma inside [128,64]: gcloud's escape
    assert "train.hidden_units=[128,64]" in args.split("|")
    assert "--labels=managed-by=churn-pipeline,churn-model=churn,run_id=" in line
    assert "--service-account=sa@my-gcp-project.iam.gserviceaccount.com" in words
    spec_path = next(w for w in words if w.startswith("--config=")).split("=", 1)[1]
    spec = yaml.safe_load(Path(spec_path).read_text(encoding="utf-8"))
    assert spec["baseOutputDirectory"]["outputUriPrefix"].startswith("gs://my-churn-bucket/training/")
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    (step,) = plan[0]["steps"]
    assert step["call"] == "JobServiceClient.create_custom_job"
    assert step["args"]["custom_job"]["job_spec"]["worker_pool_specs"][1]["replica_count"] == 2


def test_predict_dry_run_plans_the_batch_prediction_job(offline: None, tmp_path: Path) -> None:  # noqa: F811
    _, folder = _dry_run(["predict", "--target", "vertex", "--input", "bq://my-gcp-project.crm.customers",
                          "--output", "gs://my-churn-bucket/scores/", "--model", "churn@champion"], tmp_path)
    (line,) = _script_lines(folder, "curl ")
    words = shlex.split(line)
    assert words[-1] == ("https://us-central1-aiplatform.googleapis.com/v1/projects/my-gcp-project/"
                         "locations/us-central1/batchPredictionJobs")
    body = json.loads(Path(words[words.index("--data-binary") + 1].removeprefix("@")).read_text())
    assert body["model"] == "projects/my-gcp-project/locations/us-central1/models/<MODEL_ID>@champion"
    assert body["instanceConfig"] == {"instanceType": "object", "keyField": "customerID",
                                      "excludedFields": ["Churn"]}
    assert body["inputConfig"]["bigquerySource"] == {"inputUri": "bq://my-gcp-project.crm.customers"}
    assert body["labels"]["managed-by"] == "churn-pipeline"
    plans = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert plans[0]["title"].startswith("Resolve churn@champion")  # the registry look-up comes first


@pytest.mark.parametrize(("args", "expected"), [
    (["jobs", "list"], ["gcloud ai custom-jobs list", "/batchPredictionJobs\n", "/pipelineJobs\n"]),
    (["jobs", "show", "123"], ["gcloud ai custom-jobs describe 123", "/batchPredictionJobs/123\n"]),
    (["jobs", "cancel", "123"], ["gcloud ai custom-jobs cancel 123", "/pipelineJobs/123:cancel\n"]),
    (["cleanup"], ["/schedules\n", "-X DELETE", "gcloud ai custom-jobs cancel ''\"${CUSTOM_JOB_ID}\"''",
                   "/schedules/'\"${SCHEDULE_ID}\"''", ': "${BATCH_JOB_ID:?set BATCH_JOB_ID to the id']),
])
def test_jobs_dry_runs(offline: None, tmp_path: Path, args: list[str], expected: list[str]) -> None:  # noqa: F811
    result, folder = _dry_run(args, tmp_path)
    assert "Dry run" in result.output
    script = (folder / "plan.sh").read_text(encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(folder / "plan.sh")], check=False).returncode == 0
    for text in expected:
        assert text in script, text


def test_local_train_has_no_dry_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--dry-run", "--set", f"paths.artifacts={tmp_path}"])
    assert isinstance(result.exception, BackendError) and "--dry-run" in str(result.exception)
