"""VertexBackend (the backend interface on Vertex AI) against the fake Vertex API, the fake
BigQuery request log and the GCS emulator."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.backends.vertex import VertexBackend
from pipeline.backends.vertex.alias_history import AliasHistory, alias_event
from pipeline.config import Config
from pipeline.errors import CloudError, RegistryError
from pipeline.serving.predlog import FRAME_COLUMNS
from pipeline.training import schema
from tests.fakes.bigquery_server import FakeBigQueryServer
from tests.fakes.fixtures import TEST_BUCKET, make_run_dir
from tests.fakes.monitoring_server import FakeMonitoringServer
from tests.fakes.vertex_server import FakeVertexServer

RUN_FILES = {"metrics.json", "baseline_stats.json", "intervals.json", "model_card.json",
             "config.yaml"}
HISTORY = "models/churn/alias_history.jsonl"


@pytest.fixture
def backend(vertex_config: Config) -> VertexBackend:
    return VertexBackend(vertex_config)


@pytest.fixture
def two_versions(backend: VertexBackend, tmp_path: Path) -> list[Path]:
    runs = [make_run_dir(tmp_path / "a", "run-a"), make_run_dir(tmp_path / "b", "run-b")]
    for run in runs:
        backend.registry.upload(run)
    return runs


def _objects(gcs_client: Any, prefix: str) -> set[str]:
    return {b.name for b in gcs_client.list_blobs(TEST_BUCKET, prefix=prefix)}


def _history(gcs_client: Any) -> list[dict[str, Any]]:
    text = gcs_client.bucket(TEST_BUCKET).blob(HISTORY).download_as_text()
    return [json.loads(line) for line in text.splitlines()]


def _instance(customer: str, tenure: int) -> dict[str, Any]:
    row: dict[str, Any] = {c: schema.CATEGORICAL_VALUES[c][0] for c in schema.FEATURES
                           if not schema.is_numeric(c)}
    row.update(SeniorCitizen=0, tenure=tenure, MonthlyCharges=70.5, TotalCharges="")
    return {"customerID": customer, **row}


# ---- registry ---------------------------------------------------------------------------
def test_upload_registers_copies_run_files_and_records_aliases(
        backend: VertexBackend, fake_run_dir: Path, gcs_client: Any) -> None:
    version = backend.registry.upload(fake_run_dir, ["candidate"], {"team": "growth"})

    assert version.version_id == "1"
    assert set(version.aliases) == {"candidate", "champion", "default"}
    assert version.threshold == 0.42 and version.test_metrics["roc_auc"] == 0.8431
    assert version.labels["team"] == "growth" and version.run_id == fake_run_dir.name
    prefix = f"runs/{fake_run_dir.name}/"
    assert _objects(gcs_client, prefix) == {prefix + name for name in RUN_FILES}
    for name in RUN_FILES:
        landed = gcs_client.bucket(TEST_BUCKET).blob(prefix + name).download_as_bytes()
        assert landed == (fake_run_dir / name).read_bytes()
    events = _history(gcs_client)
    assert {(e["alias"], e["to"], e["kind"]) for e in events} == {
        ("candidate", "1", "upload"), ("champion", "1", "upload"), ("default", "1", "upload")}
    calls = [s["call"] for plan in backend.plans for s in plan["steps"]]
    assert calls.index("google.cloud.storage: Blob.upload_from_filename") < calls.index(
        "aiplatform.Model.upload")


def test_second_upload_does_not_take_the_champion(backend: VertexBackend,
                                                  two_versions: list[Path]) -> None:
    assert backend.registry.resolve("churn@champion").version_id == "1"
    assert backend.registry.resolve("churn@default").version_id == "2"


def test_versions_lists_every_version_with_aliases_labels_and_metrics(
        backend: VertexBackend, two_versions: list[Path]) -> None:
    versions = backend.registry.versions()

    assert [v.version_id for v in versions] == ["1", "2"]
    first, second = versions
    assert set(first.aliases) == {"champion"} and set(second.aliases) == {"default"}
    assert [v.run_id for v in versions] == ["run-a", "run-b"]
    assert all(v.threshold == 0.42 and v.test_metrics["f1"] == 0.5 for v in versions)
    assert first.location == f"gs://{TEST_BUCKET}/models/churn/1/"
    assert first.created_at and first.resource_name.endswith("@1")
    assert first.labels["managed-by"] == "churn-pipeline"


def test_versions_of_an_unknown_model_is_empty(backend: VertexBackend) -> None:
    assert backend.registry.versions() == []


def test_resolve_alias_version_and_run_directory(backend: VertexBackend,
                                                 two_versions: list[Path]) -> None:
    assert backend.registry.resolve("churn@2").run_id == "run-b"
    assert backend.registry.resolve(str(two_versions[0])).version_id == "1"
    with pytest.raises(CloudError, match="no version or alias 'nope'"):
        backend.registry.resolve("churn@nope")


def test_promote_then_rollback_walks_the_alias_history(
        backend: VertexBackend, two_versions: list[Path], gcs_client: Any) -> None:
    assert backend.registry.promote("2", "champion") == "1"
    assert backend.registry.resolve("churn@champion").version_id == "2"

    assert backend.registry.rollback("champion") == "1"

    assert backend.registry.resolve("churn@champion").version_id == "1"
    kinds = [(e["from"], e["to"], e["kind"]) for e in _history(gcs_client)
             if e["alias"] == "champion"]
    assert kinds == [(None, "1", "upload"), ("1", "2", "promote"), ("2", "1", "rollback")]
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        backend.registry.rollback("champion")


def test_promote_an_unknown_version_is_refused(backend: VertexBackend,
                                               two_versions: list[Path]) -> None:
    with pytest.raises(Exception, match=r"churn@7: no such version on Vertex \(registered: 1, 2\)"):
        backend.registry.promote("7", "champion")


def test_rollback_after_a_move_made_outside_the_pipeline(
        backend: VertexBackend, two_versions: list[Path], tmp_path: Path) -> None:
    from google.cloud import aiplatform

    backend.registry.upload(make_run_dir(tmp_path / "c", "run-c"))
    backend.registry.promote("2", "champion")
    model = aiplatform.Model(backend.registry.resolve("churn@3").resource_name)
    aiplatform.models.ModelRegistry(model).add_version_aliases(["champion"], "3")  # by hand

    assert backend.registry.rollback("champion") == "2"


def test_fetch_downloads_model_and_run_files_once(
        backend: VertexBackend, fake_run_dir: Path, gcs_client: Any) -> None:
    backend.registry.upload(fake_run_dir)

    local = backend.registry.fetch("churn@champion")

    cache = backend.config.paths.artifacts / "vertex-cache" / "churn" / "1"
    assert local.source_dir == cache and local.model_dir == cache / "model"
    expected = {p.relative_to(fake_run_dir) for p in fake_run_dir.rglob("*") if p.is_file()}
    assert {p.relative_to(cache) for p in cache.rglob("*") if p.is_file()} == expected
    for relative in expected:
        assert (cache / relative).read_bytes() == (fake_run_dir / relative).read_bytes()
    assert [p.name for p in cache.parent.iterdir()] == ["1"]  # no staging folder left
    for blob in gcs_client.list_blobs(TEST_BUCKET, prefix="models/churn/1/"):
        blob.delete()
    assert backend.registry.fetch("churn@1").source_dir == cache  # reused, not downloaded


# ---- alias history under concurrent writers -----------------------------------------------
class _Blob:
    def __init__(self, store: _Bucket, name: str) -> None:
        self.store, self.name = store, name

    @property
    def generation(self) -> int:
        return self.store.objects[self.name][1]

    def download_as_bytes(self, if_generation_match: int | None = None) -> bytes:
        return self.store.objects[self.name][0]

    def upload_from_string(self, data: bytes, content_type: str = "",
                           if_generation_match: int | None = None) -> None:
        from google.api_core import exceptions as gexc

        self.store.before_write(self.store)
        current = self.store.objects.get(self.name, (b"", 0))[1]
        if if_generation_match is not None and if_generation_match != current:
            raise gexc.PreconditionFailed("conditionNotMet")
        self.store.objects[self.name] = (data, current + 1)


class _Bucket:
    """An in-memory bucket that honours if_generation_match (the GCS emulator ignores it)."""

    name = "race"

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.before_write: Any = lambda store: None

    def get_blob(self, name: str) -> _Blob | None:
        return _Blob(self, name) if name in self.objects else None

    def blob(self, name: str, kms_key_name: str | None = None) -> _Blob:
        return _Blob(self, name)


def test_concurrent_appends_lose_no_event(vertex_config: Config) -> None:
    bucket = _Bucket()
    history = AliasHistory(vertex_config, bucket, "h.jsonl")
    history.append([alias_event("champion", None, "1", "upload")])
    other = AliasHistory(vertex_config, bucket, "h.jsonl")

    def another_writer_first(store: _Bucket) -> None:
        store.before_write = lambda store: None  # once
        other.append([alias_event("champion", "1", "3", "promote")])

    bucket.before_write = another_writer_first
    history.append([alias_event("champion", "1", "2", "promote")])

    assert [e["to"] for e in history.events()] == ["1", "3", "2"]


# ---- endpoint -----------------------------------------------------------------------------
def test_deploy_predict_undeploy(backend: VertexBackend, fake_run_dir: Path,
                                 fake_vertex: FakeVertexServer) -> None:
    backend.registry.upload(fake_run_dir)

    deployment = backend.endpoint.deploy("churn@champion")

    assert deployment.model_version == "1" and deployment.deployed_model_id
    assert deployment.traffic_split == {deployment.deployed_model_id: 100}
    assert deployment.url == f"{fake_vertex.url}/v1/{deployment.endpoint}:predict"
    fake_vertex.prediction = lambda instance: {"churn_probability": instance["tenure"] / 100}
    instances = [_instance("0001-A", 10), _instance("0002-B", 60)]
    # Instances with customer IDs go through :rawPredict to the signature that echoes them
    assert backend.endpoint.predict(instances) == [{"churn_probability": 0.1, "customerID": "0001-A"},
                                                   {"churn_probability": 0.6, "customerID": "0002-B"}]
    (body,) = fake_vertex.bodies("rawPredict")
    assert body == {"signature_name": "with_customer_id", "instances": instances}
    without_ids = [{k: v for k, v in instance.items() if k != "customerID"} for instance in instances]
    assert backend.endpoint.predict(without_ids) == [{"churn_probability": 0.1}, {"churn_probability": 0.6}]
    (body,) = fake_vertex.bodies("predict")
    assert body["instances"] == without_ids

    outcome = backend.endpoint.undeploy()

    assert outcome.details["undeployed"] == [deployment.deployed_model_id]
    assert not fake_vertex.state.endpoints
    with pytest.raises(CloudError, match="run `churn deploy` first"):
        backend.endpoint.predict(instances)


def test_cleanup_removes_the_endpoint(backend: VertexBackend, fake_run_dir: Path,
                                      fake_vertex: FakeVertexServer,
                                      fake_monitoring: FakeMonitoringServer) -> None:
    backend.registry.upload(fake_run_dir)
    backend.endpoint.deploy("churn@champion")

    outcome = backend.endpoint.cleanup()

    assert outcome.message.startswith("deleted 1 endpoint(s)")
    assert not fake_vertex.state.endpoints and fake_vertex.state.models


# ---- monitoring ---------------------------------------------------------------------------
def test_monitoring_setup_status_alerts_delete(backend: VertexBackend, fake_run_dir: Path,
                                               fake_monitoring: FakeMonitoringServer) -> None:
    backend.registry.upload(fake_run_dir)
    backend.endpoint.deploy("churn@champion")

    assert "JOB_STATE_RUNNING" in backend.monitoring.setup().message
    assert backend.monitoring.status().details["exists"] is True
    assert backend.monitoring.setup_alerts().message.startswith("2 alert policies")
    assert backend.monitoring.delete().message == "deleted 1 monitoring job(s)"


def test_logged_requests_reads_the_request_log_in_chunks(
        backend: VertexBackend, fake_run_dir: Path, fake_vertex: FakeVertexServer,
        fake_bigquery: FakeBigQueryServer) -> None:
    backend.registry.upload(fake_run_dir)
    deployment = backend.endpoint.deploy("churn@champion")
    fake_vertex.on_predict = fake_bigquery.log_request
    old = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    fake_bigquery.log_request(deployment.endpoint, deployment.deployed_model_id,
                              [_instance("0000-OLD", 1)], [0.9], when=old)
    fake_vertex.prediction = lambda instance: instance["tenure"] / 100  # one unnamed output
    backend.endpoint.predict([_instance("0001-A", 10), _instance("0002-B", 60),
                              _instance("0003-C", 50)])
    fake_vertex.prediction = lambda instance: {"churn_probability": 0.3, "interval_lower": 0.2,
                                               "interval_upper": 0.4, "churn": True}
    backend.endpoint.predict([_instance("0004-D", 5)])

    frames = list(backend.monitoring.logged_requests(since=old + dt.timedelta(days=1),
                                                     chunk_rows=1))

    assert [len(f) for f in frames] == [3, 1]  # whole requests per chunk
    frame = pd.concat(frames, ignore_index=True)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["customerID"].tolist() == ["0001-A", "0002-B", "0003-C", "0004-D"]
    assert frame["churn_probability"].tolist() == [0.1, 0.6, 0.5, 0.3]
    assert frame["churn"].tolist() == [False, True, True, True]  # threshold 0.42, then logged
    assert frame["instance"].tolist() == [0, 1, 2, 0]
    assert frame["model_version"].unique().tolist() == ["1"]
    assert frame["tenure"].dtype == "float64" and frame["TotalCharges"].isna().all()
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert (frame["timestamp"] > pd.Timestamp(old + dt.timedelta(days=1))).all()
    assert frame["interval_upper"].tolist()[3] == 0.4
    assert len(fake_bigquery.calls("getQueryResults")) >= 1  # more than one page was read
    everything = pd.concat(backend.monitoring.logged_requests(since=None), ignore_index=True)
    assert everything["customerID"].iloc[0] == "0000-OLD"


def test_logged_requests_needs_a_bq_table(vertex_config: Config, fake_run_dir: Path) -> None:
    config = vertex_config.model_copy(update={"vertex": vertex_config.vertex.model_copy(
        update={"logging_bq_table": "logs.requests"})})
    with pytest.raises(CloudError, match="is not bq://PROJECT.DATASET.TABLE"):
        list(VertexBackend(config).monitoring.logged_requests(since=None))


# ---- dry run ------------------------------------------------------------------------------
def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a dry run opened a network connection")


def test_every_method_in_dry_run_records_plans_and_calls_nothing(
        vertex_config: Config, fake_run_dir: Path, fake_vertex: FakeVertexServer,
        fake_bigquery: FakeBigQueryServer, gcs_client: Any) -> None:
    backend = VertexBackend(vertex_config, dry_run=True)
    calls = [
        lambda: backend.registry.upload(fake_run_dir, ["candidate"]),
        lambda: backend.registry.resolve("churn@champion"),
        lambda: backend.registry.versions(),
        lambda: backend.registry.promote("2", "champion"),
        lambda: backend.registry.rollback("champion"),
        lambda: backend.registry.fetch("churn@3"),
        lambda: backend.endpoint.deploy("churn@champion", 10),
        lambda: backend.endpoint.predict([_instance("0001-A", 1)]),
        lambda: list(backend.monitoring.logged_requests(since=None)),
        lambda: backend.endpoint.undeploy(),
        lambda: backend.endpoint.cleanup(),
        lambda: backend.monitoring.setup(),
        lambda: backend.monitoring.status(),
        lambda: backend.monitoring.setup_alerts(),
        lambda: backend.monitoring.delete(),
    ]
    with pytest.MonkeyPatch.context() as offline:
        offline.setattr(socket.socket, "connect", _no_network)
        for call in calls:
            before = len(backend.plans)
            call()
            assert len(backend.plans) > before
    assert backend.registry.upload(fake_run_dir).version_id == "<NEXT_VERSION>"
    assert backend.registry.rollback() == "<PREVIOUS_VERSION>"
    assert all(plan["steps"] for plan in backend.plans)
    assert fake_vertex.requests == [] and fake_bigquery.requests == []
    assert _objects(gcs_client, "") == set()
    assert not (vertex_config.paths.artifacts / "vertex-cache").exists()
