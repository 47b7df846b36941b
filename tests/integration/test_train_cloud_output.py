"""Inside a Vertex training job (AIP_MODEL_DIR set) the train step copies the SavedModel there
and the run directory next to it, on the GCS emulator; only the chief replica copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import OutputError
from pipeline.training.cloud_output import is_chief, publish_run
from tests.fakes.fixtures import TEST_BUCKET

BASE = f"gs://{TEST_BUCKET}/training/run-1"


def _objects(client: Any) -> set[str]:
    return {b.name for b in client.list_blobs(TEST_BUCKET)}


def test_the_model_goes_to_aip_model_dir_and_the_run_next_to_it(gcs_client: Any, fake_run_dir: Path) -> None:
    written = publish_run(fake_run_dir, environ={"AIP_MODEL_DIR": f"{BASE}/model/"})

    names = _objects(gcs_client)
    assert {"training/run-1/model/saved_model.pb", "training/run-1/model/variables/variables.index"} <= names
    assert {"training/run-1/run/metrics.json", "training/run-1/run/model/saved_model.pb",
            "training/run-1/run/intervals.json"} <= names
    files = [p for p in fake_run_dir.rglob("*") if p.is_file()]
    assert len(written) == len(files) + len([p for p in files if "model" in p.relative_to(fake_run_dir).parts[:1]])
    blob = gcs_client.bucket(TEST_BUCKET).get_blob("training/run-1/run/metrics.json")
    assert json.loads(blob.download_as_bytes()) == json.loads((fake_run_dir / "metrics.json").read_text())


def test_nothing_is_copied_outside_a_job_or_by_a_worker(gcs_client: Any, fake_run_dir: Path) -> None:
    assert publish_run(fake_run_dir, environ={}) == []
    worker = json.dumps({"cluster": {"workerpool0": ["a:1"], "workerpool1": ["b:1"]},
                         "task": {"type": "workerpool1", "index": 0}})
    assert publish_run(fake_run_dir, environ={"AIP_MODEL_DIR": f"{BASE}/model/", "CLUSTER_SPEC": worker}) == []
    assert _objects(gcs_client) == set()


@pytest.mark.parametrize(("environ", "chief"), [
    ({}, True),
    ({"CLUSTER_SPEC": json.dumps({"cluster": {"workerpool0": ["a:1"]}, "task": {"type": "workerpool0", "index": 0}})},
     True),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker"}})}, False),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}})}, True),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}})}, False),
])
def test_which_replica_is_the_chief(environ: dict[str, str], chief: bool) -> None:
    assert is_chief(environ) is chief


def test_a_model_dir_that_is_not_gcs_is_refused(fake_run_dir: Path) -> None:
    with pytest.raises(OutputError, match="expected a gs:// prefix"):
        publish_run(fake_run_dir, environ={"AIP_MODEL_DIR": "/local/model"})


def test_churn_train_in_a_job_publishes_its_run(gcs_client: Any, fake_run_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m pipeline train` as the job runs it: the local train step, then the copy."""
    from typer.testing import CliRunner

    import pipeline.training.launch as launch_module
    from pipeline.cli.app import app

    seen: dict[str, Any] = {}

    def trained(config: Any, data: Any, run_dir: Any, **options: Any) -> Path:  # the real fit is tested elsewhere
        seen.update(data=data, run_dir=run_dir)
        return fake_run_dir

    monkeypatch.setattr(launch_module, "train_run", trained)
    monkeypatch.setattr("pipeline.cli.train.print_summary", lambda run: None)
    monkeypatch.setenv("AIP_MODEL_DIR", f"{BASE}/model/")
    result = CliRunner().invoke(app, ["train", "--data", f"gs://{TEST_BUCKET}/x.csv", "--run-dir", "/tmp/r/run-1"])

    assert result.exit_code == 0, result.output
    assert seen == {"data": f"gs://{TEST_BUCKET}/x.csv", "run_dir": Path("/tmp/r/run-1")}  # gs:// kept whole
    assert "training/run-1/run/metrics.json" in _objects(gcs_client)
