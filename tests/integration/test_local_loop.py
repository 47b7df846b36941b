"""The article's last steps on one machine: upload, deploy, traffic, drift from the log, undeploy."""

from __future__ import annotations

import datetime as dt
import socket
import urllib.request
from pathlib import Path

import pytest

from pipeline.backends import backend_for
from pipeline.monitoring.monitor import MonitorRequest, run_monitor
from pipeline.registry.local_registry import LocalRegistry
from pipeline.serving.local_endpoint import deploy_local, read_record, undeploy_local
from pipeline.tools.simulate import simulate


def monitor(config, model_ref: str, **request) -> dict:
    """run_monitor on the config's backend."""
    return run_monitor(config, backend_for(config), MonitorRequest(model_ref, **request))



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def loop_config(small_config, tmp_path: Path):
    config = small_config.model_copy(deep=True)
    config.paths.artifacts = tmp_path / "artifacts"
    config.serve.port = free_port()
    return config


def test_deploy_simulate_monitor_undeploy(trained_run: Path, loop_config) -> None:
    registry = LocalRegistry.from_config(loop_config)
    assert registry.upload(trained_run) == 1
    args = ["--set", f"paths.artifacts={loop_config.paths.artifacts}", "--set", f"serve.port={loop_config.serve.port}"]
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    record = deploy_local(loop_config, "churn@champion", args)
    try:
        assert record["model_version"] == "1" and read_record(loop_config)["pid"] == record["pid"]
        result = simulate(record["url"], loop_config.serve.endpoint, ["contract", "fiber"], 400,
                          loop_config.paths.artifacts / "simulations")
        assert result.sent == 400 and result.failed == 0
        report = monitor(loop_config, "churn@champion", from_log=True, since=started,
                                                         labels=result.labels_csv)
        with urllib.request.urlopen(record["url"] + "/metrics", timeout=10) as answer:
            exposed = answer.read().decode()
    finally:
        undeploy_local(loop_config)
    assert read_record(loop_config) is None
    assert report["rows"] == 400
    assert {"Contract", "InternetService"} <= set(report["drifted_features"])
    assert report["performance"]["status"] == "ok" and report["performance"]["rows"] == 400
    assert report["score"]["value"] is not None
    assert (Path(report["report"]).parent / "drift.json").exists()
    assert 'churn_feature_drifted{feature="Contract"} 1.0' in exposed
    assert 'churn_feature_drift{feature="gender",statistic="l_infinity"}' in exposed
