"""One scenario, both backends: upload, deploy, predict, list, promote, rollback, monitor from
the endpoint's log, retrain, undeploy. Local runs for real (a background `churn serve`);
vertex runs against the fakes (Vertex REST, GCS emulator, BigQuery request log). The
scenario only calls the backend interface, so what passes here is what the CLI does."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.backends import backend_for
from pipeline.backends.base import Backend
from pipeline.config import Config
from pipeline.monitoring.monitor import MonitorRequest, run_monitor
from pipeline.tools import synth
from pipeline.tools.simulate import drifted_customers
from pipeline.training.retrain import retrain
from pipeline.training.schema import FEATURES, ID_COLUMN

ROWS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def instances(csv: Path) -> list[dict[str, Any]]:
    frame = pd.read_csv(csv).head(ROWS)
    frame = frame[frame["TotalCharges"].astype(str).str.strip() != ""]
    frame["TotalCharges"] = frame["TotalCharges"].astype(float)
    return frame[[ID_COLUMN, *FEATURES]].to_dict("records")


def quick(config: Config, small_csv: Path) -> Config:
    """The scenario's config: the small data, two epochs, a gate the challenger cannot pass
    (so retrain does not redeploy in the middle of the scenario)."""
    config = config.model_copy(deep=True)
    config.data.path = small_csv
    config.train.epochs, config.train.tensorboard = 2, False
    config.retrain.min_auc_gain = 1.0
    return config


@pytest.fixture(params=["local", "vertex"])
def scenario(request: pytest.FixtureRequest, small_config: Config, small_csv: Path,
             tmp_path: Path) -> tuple[Config, Backend]:
    if request.param == "local":
        config = quick(small_config, small_csv)
        config.paths.artifacts = tmp_path / "artifacts"
        config.serve.port = free_port()
        server_args = ["--set", f"paths.artifacts={config.paths.artifacts}", "--set", f"serve.port={config.serve.port}"]
        return config, backend_for(config, server_args=server_args)
    config = quick(request.getfixturevalue("vertex_config"), small_csv)
    fake_vertex, fake_bigquery = request.getfixturevalue("fake_vertex"), request.getfixturevalue("fake_bigquery")
    fake_vertex.prediction = lambda instance: {"churn_probability": min(1.0, instance["tenure"] / 72)}
    fake_vertex.on_predict = fake_bigquery.log_request  # Vertex's request-response logging
    return config, backend_for(config)


def test_the_same_scenario_on_both_backends(scenario: tuple[Config, Backend], trained_run: Path,
                                            small_csv: Path, tmp_path: Path) -> None:
    config, backend = scenario
    registry = backend.registry
    first = registry.upload(trained_run)
    second = registry.upload(trained_run, ["candidate"])
    assert (first.version_id, second.version_id) == ("1", "2")
    assert "champion" in registry.resolve("churn@1").aliases

    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    deployment = backend.endpoint.deploy("churn@champion")
    try:
        assert deployment.model_version == "1" and backend.endpoint.serving()
        sent = instances(small_csv)
        predictions = backend.endpoint.predict(sent)
        assert len(predictions) == len(sent) >= 30

        assert [v.version_id for v in registry.versions()] == ["1", "2"]
        assert registry.promote("2", "champion") == "1"
        assert registry.resolve("churn@champion").version_id == "2"
        assert registry.rollback("champion") == "1"
        assert registry.resolve("churn@champion").version_id == "1"

        report = run_monitor(config, backend, MonitorRequest("churn@champion", from_log=True, since=started,
                                                             out=tmp_path / "drift"))
        assert report["rows"] == len(sent) and report["model_version"] == "1"
        assert set(report["features"]) == set(FEATURES)

        fresh = tmp_path / "labelled.csv"
        synth.write_customers(drifted_customers(300, ["contract"], seed=5), fresh)
        decision, record = retrain(config, backend, fresh)
        assert (decision.champion_version, decision.challenger_version) == ("1", "3")
        assert not decision.promoted and decision.champion_now == "1" and record.is_file()
        assert "challenger" in registry.resolve("churn@3").aliases
    finally:
        outcome = backend.endpoint.undeploy()
    assert outcome.message and not backend.endpoint.serving()
