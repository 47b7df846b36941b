"""`churn cleanup` removes the schedules and jobs the project created (cancelling running
ones first) and nothing else."""

from __future__ import annotations

from pathlib import Path

from pipeline.backends import backend_for
from pipeline.backends.base import BatchPredictionRequest, TrainingRequest
from pipeline.backends.vertex import cleanup_vertex, naming, upload_run_to_vertex
from pipeline.config import Config
from tests.fakes.fixtures import TEST_BUCKET, make_run_dir
from tests.fakes.vertex_server import FakeVertexServer

DATA = f"gs://{TEST_BUCKET}/datasets/churn/customers.csv"


def test_cleanup_removes_our_jobs_and_schedules_and_nothing_else(
        vertex_config: Config, fake_vertex: FakeVertexServer, tmp_path: Path) -> None:
    jobs = fake_vertex.jobs
    ours = naming.managed_labels(vertex_config)
    backend = backend_for(vertex_config, target="vertex")
    running = backend.jobs.train(TrainingRequest(data=DATA)).job.name
    finished = backend.jobs.train(TrainingRequest(data=DATA)).job.name
    jobs.finish(finished, "JOB_STATE_SUCCEEDED")
    upload_run_to_vertex(vertex_config, make_run_dir(tmp_path, "run-a"), ["champion"], dry_run=False)
    batch = backend.jobs.batch_predict(BatchPredictionRequest(
        input="bq://test-project.crm.customers", output=f"gs://{TEST_BUCKET}/scores",
        model_ref="churn@champion")).job.name
    pipeline = jobs.add_pipeline_job(ours)
    schedule = jobs.add_schedule(ours)
    # Not ours: no labels, another model's, another team's pipeline and schedule.
    unlabelled = jobs.add_custom_job({})
    other_model = jobs.add_custom_job({**ours, naming.MODEL_LABEL: "fraud"}, state="JOB_STATE_SUCCEEDED")
    other_pipeline = jobs.add_pipeline_job({"team": "other"})
    other_schedule = jobs.add_schedule({"team": "other"})
    fake_vertex.reset_requests()

    result = cleanup_vertex(vertex_config, dry_run=False)

    assert set(jobs.store.custom) == {unlabelled, other_model}
    assert jobs.store.custom[unlabelled]["state"] == "JOB_STATE_RUNNING"  # not even cancelled
    assert jobs.store.batch == {}
    assert set(jobs.store.pipeline) == {other_pipeline}
    assert set(jobs.store.schedules) == {other_schedule}
    deleted = result["deleted_jobs"]
    assert deleted["schedules"] == [schedule] and deleted["pipeline"] == [pipeline]
    assert set(deleted["custom"]) == {running, finished} and deleted["batch_prediction"] == [batch]
    # Running ones were cancelled (and waited for) before their delete; the schedule went first.
    actions = [(r.action, r.path.rsplit("/", 1)[-1].split(":")[0]) for r in fake_vertex.requests
               if r.action.startswith(("cancel", "delete")) and "Monitoring" not in r.action]
    assert actions[0] == ("deleteSchedule", schedule.rsplit("/", 1)[-1])
    for name in (running, batch, pipeline):
        job_id = name.rsplit("/", 1)[-1]
        kinds = [a for a, i in actions if i == job_id]
        assert kinds[0].startswith("cancel") and kinds[1].startswith("delete"), kinds
    assert not any(a.startswith("cancel") and i == finished.rsplit("/", 1)[-1] for a, i in actions)

    again = cleanup_vertex(vertex_config, dry_run=False)
    assert all(v == [] for v in again["deleted_jobs"].values())
