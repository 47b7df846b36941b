"""Pytest fixtures for the Vertex backend: fake Vertex AI, fake Cloud Monitoring, GCS emulator.

Every test gets fresh fakes on free loopback ports and a Config pointing at them
(`vertex_config`); no network, no credentials. The GCS emulator (gcp-storage-emulator,
in memory) is shared by the session and wiped per test.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pipeline.config import Config
from pipeline.training import schema
from tests.fakes.bigquery_server import FakeBigQueryServer
from tests.fakes.monitoring_server import FakeMonitoringServer
from tests.fakes.vertex_server import FakeVertexServer

__all__ = ["fake_vertex", "fake_bigquery", "fake_monitoring", "gcs_emulator_url", "gcs_client", "fake_run_dir",
           "vertex_config"]

TEST_PROJECT = "test-project"
TEST_BUCKET = "test-churn-bucket"
TEST_KMS = "projects/test-project/locations/us-central1/keyRings/churn/cryptoKeys/churn-key"
TEST_BQ = "bq://test-project.churn_logs.requests"


@pytest.fixture
def fake_vertex() -> Iterator[FakeVertexServer]:
    with FakeVertexServer() as server:
        yield server


@pytest.fixture
def fake_bigquery() -> Iterator[FakeBigQueryServer]:
    """The request-response log table TEST_BQ names (vertex_config points at it)."""
    with FakeBigQueryServer(TEST_BQ.removeprefix("bq://")) as server:
        yield server


@pytest.fixture
def fake_monitoring() -> Iterator[FakeMonitoringServer]:
    server = FakeMonitoringServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_emulator_url() -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    host, port = server._api._httpd.server_address  # port 0: ask the bound socket
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def gcs_client(gcs_emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A storage.Client on the emulator, with an empty TEST_BUCKET."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator_url)
    client = storage.Client(project=TEST_PROJECT, credentials=AnonymousCredentials())
    for bucket in client.list_buckets():
        for blob in client.list_blobs(bucket):
            blob.delete()
        bucket.delete()
    client.create_bucket(TEST_BUCKET)
    return client


def write_training_csv(path: Path, rows: int = 4) -> Path:
    """A tiny CSV with the Telco columns, enough to be copied as the skew baseline."""
    row = {c: schema.CATEGORICAL_VALUES.get(c, ("0",))[0] for c in schema.COLUMNS}
    row.update(customerID="7590-VHVEG", tenure="1", MonthlyCharges="29.85", TotalCharges="29.85",
               SeniorCitizen="0", Churn="No")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=schema.COLUMNS)
        writer.writeheader()
        writer.writerows([row] * rows)
    return path


def make_run_dir(root: Path, run_id: str = "20250101-120000-abc123") -> Path:
    """A run directory with a dummy SavedModel: the cloud steps copy files, never load them."""
    run = root / "runs" / run_id
    (run / "model" / "variables").mkdir(parents=True)
    (run / "model" / "saved_model.pb").write_bytes(b"\x08\x01fake saved model " + run_id.encode())
    (run / "model" / "fingerprint.pb").write_bytes(b"fingerprint")
    (run / "model" / "variables" / "variables.index").write_bytes(b"index")
    (run / "model" / "variables" / "variables.data-00000-of-00001").write_bytes(b"\0" * 2048)
    write_run_files(run)
    return run


def write_run_files(run: Path, roc_auc: float = 0.8431) -> None:
    """The run files every reader needs, in the shapes training writes them."""
    from pipeline.core.records import Metrics
    from pipeline.core.rundir import RunDir
    from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES

    files = RunDir(run)
    metrics = {name: dict.fromkeys(METRIC_NAMES, 0.5) for name in MODEL_NAMES}
    metrics["keras"]["roc_auc"] = roc_auc
    document = Metrics(test=metrics, threshold=0.42, rows=200).to_dict()
    files.metrics_file.write_text(json.dumps(document))
    config_text, intervals_text, baseline_bytes = _run_file_contents()
    files.config_file.write_text(config_text)
    files.intervals_file.write_text(intervals_text)
    files.baseline_stats_file.write_bytes(baseline_bytes)
    files.model_card_file.write_text(json.dumps({"name": "churn", "metrics": document["test"]}))


@functools.cache
def _run_file_contents() -> tuple[str, str, bytes]:
    """config.yaml, intervals.json and baseline_stats.json of every fake run: the same for all of
    them, so made once per test process (200 validated rows, intervals and statistics fit on them)
    and copied into each run."""
    import tempfile

    from pipeline.config import config_as_dict
    from pipeline.monitoring.stats import compute_baseline
    from pipeline.tools.synth import generate_customers
    from pipeline.training.data import validate_frame
    from pipeline.training.intervals import fit_intervals

    frame = validate_frame(generate_customers(200, seed=3).astype(str), "fake run data")
    scores = np.linspace(0.01, 0.99, len(frame))
    intervals = json.dumps(fit_intervals(scores, frame["Churn"].to_numpy(), 4, 0.9))
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline_stats.json"
        compute_baseline(frame, scores).save(baseline)
        baseline_bytes = baseline.read_bytes()
    return yaml.safe_dump(config_as_dict(Config())), intervals, baseline_bytes


@pytest.fixture
def fake_run_dir(tmp_path: Path) -> Path:
    return make_run_dir(tmp_path)


def vertex_settings(api_endpoint: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "project": TEST_PROJECT,
        "region": "us-central1",
        "bucket": TEST_BUCKET,
        "endpoint_name": "churn-endpoint",
        "machine_type": "n1-standard-4",
        "min_replicas": 1,
        "max_replicas": 3,
        "request_logging": True,
        "logging_sampling_rate": 0.25,
        "logging_bq_table": TEST_BQ,
        "kms_key_name": TEST_KMS,
        "latency_alert_ms": 250.0,
        "error_rate_alert": 0.02,
        "monitor_interval_hours": 6,
        "monitor_sampling_rate": 0.5,
        "api_endpoint": api_endpoint,
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def vertex_config(fake_vertex: FakeVertexServer, fake_bigquery: FakeBigQueryServer,
                  fake_monitoring: FakeMonitoringServer, gcs_client: Any, tmp_path: Path) -> Config:
    """backend: vertex, every vertex field set, pointed at the fakes."""
    return Config.model_validate({
        "backend": "vertex",
        "data": {"path": str(write_training_csv(tmp_path / "customer_churn.csv"))},
        "paths": {"artifacts": str(tmp_path / "artifacts")},
        "registry": {"model_name": "churn", "labels": {"team": "Data Science", "cost_center": "42"}},
        "monitor": {"thresholds": {"Contract": 0.2, "tenure": 0.15},
                    "alert_emails": ["oncall@example.com"]},
        "vertex": vertex_settings(fake_vertex.url, bigquery_api_endpoint=fake_bigquery.url,
                                  monitoring_api_endpoint=fake_monitoring.target),
    })
