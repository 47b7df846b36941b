"""Monitor, alert and retrain: drift.json contract, alerts to local receivers, the gate."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.backends import backend_for
from pipeline.cli.app import app
from pipeline.config import RetrainConfig
from pipeline.errors import MonitoringError, PipelineError
from pipeline.monitoring.monitor import MonitorRequest, parse_window, run_monitor
from pipeline.training.retrain import gate

runner = CliRunner()

def monitor(config, model_ref: str, **request) -> dict:
    """run_monitor on the config's backend."""
    return run_monitor(config, backend_for(config), MonitorRequest(model_ref, **request))



@pytest.fixture()
def shifted_csv(small_csv: Path, tmp_path: Path) -> Path:
    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    frame["Contract"] = "Month-to-month"
    path = tmp_path / "shifted.csv"
    frame.drop(columns=["Churn"]).to_csv(path, index=False)
    return path


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def webhook() -> str:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture()
def smtp_inbox():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    inbox: list = []

    class Collect(Message):
        def handle_message(self, message) -> None:
            inbox.append(message)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_drift_json_contract_and_alerts(trained_run: Path, shifted_csv: Path, small_config, tmp_path: Path,
                                        webhook: str, smtp_inbox) -> None:
    port, inbox = smtp_inbox
    config = small_config.model_copy(deep=True)
    config.monitor.webhook_url = webhook
    config.monitor.smtp_host, config.monitor.smtp_port = "127.0.0.1", port
    config.monitor.alert_emails = ["ml-team@example.com"]
    report = monitor(config, str(trained_run), current=shifted_csv, out=tmp_path / "mon")
    drift = json.loads((tmp_path / "mon" / "drift.json").read_text())
    assert drift["features"]["Contract"]["drifted"] is True
    assert drift["features"]["gender"]["drifted"] is False
    assert drift["features"]["Contract"]["statistic"] == "l_infinity"
    assert drift["features"]["tenure"]["statistic"] == "jensen_shannon"
    assert "Contract" in report["drifted_features"]
    page = (tmp_path / "mon" / "report.html").read_text()
    assert "Contract" in page and "data:image/png;base64," in page
    assert _Receiver.received and "Contract" in _Receiver.received[0]["text"]
    assert inbox and "Contract" in inbox[0].get_payload()
    assert json.loads((tmp_path / "mon" / "alert.json").read_text())["channels"]["webhook"].startswith("sent")


def test_no_drift_on_training_like_data(trained_run: Path, small_csv: Path, small_config, tmp_path: Path) -> None:
    report = monitor(small_config, str(trained_run), current=small_csv, out=tmp_path / "m")
    assert report["drifted_features"] == []
    assert not (tmp_path / "m" / "alert.json").exists()


def test_live_performance_with_labels(trained_run: Path, small_csv: Path, small_config, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    pd.read_csv(small_csv, dtype=str)[["customerID", "Churn"]].to_csv(labels, index=False)
    report = monitor(small_config, str(trained_run), current=small_csv, labels=labels,
                                                      out=tmp_path / "m")
    assert report["performance"]["status"] == "ok"
    assert report["performance"]["rows"] == 1200
    assert 0.6 < report["performance"]["metrics"]["roc_auc"] <= 1
    assert report["score"]["statistic"] == "jensen_shannon"


def test_not_enough_rows_is_explicit(trained_run: Path, small_csv: Path, small_config, tmp_path: Path) -> None:
    few = tmp_path / "few.csv"
    pd.read_csv(small_csv, dtype=str).head(5).to_csv(few, index=False)
    report = monitor(small_config, str(trained_run), current=few, out=tmp_path / "m")
    assert report["status"] == "not_enough_data"
    assert all(f["value"] is None and f["drifted"] is False for f in report["features"].values())


def test_missing_feature_is_a_clear_error(trained_run: Path, small_csv: Path, small_config, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    pd.read_csv(small_csv, dtype=str).drop(columns=["tenure"]).to_csv(broken, index=False)
    with pytest.raises(MonitoringError, match="tenure"):
        monitor(small_config, str(trained_run), current=broken, out=tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_cli_fail_on_drift(trained_run: Path, shifted_csv: Path, tmp_path: Path, small_config) -> None:
    args = ["monitor", "--model", str(trained_run), "--current", str(shifted_csv),
            "--set", f"paths.artifacts={small_config.paths.artifacts}"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "m")]).exit_code == 0
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "m2"), "--fail-on-drift"])
    assert result.exit_code == 1, result.output


def test_cli_reference_mode_measures_skew_between_two_csvs(small_csv: Path, shifted_csv: Path,
                                                           tmp_path: Path, small_config) -> None:
    out = tmp_path / "ref"
    args = ["monitor", "--reference", str(small_csv), "--current", str(shifted_csv), "--out", str(out),
            "--set", f"paths.artifacts={small_config.paths.artifacts}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    drift = json.loads((out / "drift.json").read_text())
    assert drift["reference"] == str(small_csv) and drift["model"] is None
    for name, feature in drift["features"].items():
        assert {"statistic", "value", "threshold", "drifted"} <= set(feature), name
    assert drift["features"]["Contract"]["drifted"] is True
    assert drift["features"]["tenure"]["value"] == 0.0  # only Contract was changed
    assert "Skew report" in (out / "report.html").read_text()
    alert = json.loads((out / "alert.json").read_text())
    assert f"reference {small_csv}" in alert["text"] and "None" not in alert["text"]


def test_reference_mode_equals_a_baseline_of_the_same_data(small_csv: Path, tmp_path: Path,
                                                           small_config) -> None:
    from pipeline.monitoring.monitor import ScoreCollector, csv_chunks, reference_baseline, skew_result

    current = tmp_path / "older.csv"
    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    frame.assign(tenure=(frame["tenure"].astype(int) // 2).astype(str)).to_csv(current, index=False)
    report = monitor(small_config, "unused", current=current, reference=small_csv, out=tmp_path / "m")
    baseline = reference_baseline(small_config, small_csv)
    expected = skew_result(small_config, baseline, ScoreCollector(csv_chunks(current)), False)
    assert report["features"]["tenure"]["value"] == expected.features["tenure"].value > 0.1


def test_reference_csv_is_validated_like_training_data(small_csv: Path, tmp_path: Path, small_config) -> None:
    bad = tmp_path / "bad_reference.csv"
    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    frame.loc[3, "tenure"] = "lots"
    frame.to_csv(bad, index=False)
    args = ["monitor", "--reference", str(bad), "--current", str(small_csv), "--out", str(tmp_path / "m"),
            "--set", f"paths.artifacts={small_config.paths.artifacts}"]
    # CliRunner skips main(), which prints a PipelineError as one line with exit code 2
    result = runner.invoke(app, args)
    assert isinstance(result.exception, PipelineError), result.output
    message = str(result.exception)
    assert "bad_reference.csv" in message and "tenure" in message and "line 5" in message
    assert "\n" not in message
    assert not (tmp_path / "m").exists()
    both = runner.invoke(app, ["monitor", "--model", "churn@champion", "--reference", str(small_csv),
                               "--current", str(small_csv)])
    assert isinstance(both.exception, PipelineError) and "choose one baseline" in str(both.exception)
    with pytest.raises(MonitoringError, match="needs --model"):
        monitor(small_config, "unused", current=small_csv, reference=small_csv, labels=small_csv,
                out=tmp_path / "m")


def test_window_parsing() -> None:
    assert parse_window("12h").total_seconds() == 12 * 3600
    with pytest.raises(MonitoringError):
        parse_window("soon")


def test_gate_rules() -> None:
    champion = {"roc_auc": 0.80, "pr_auc": 0.60, "log_loss": 0.45, "brier": 0.15}
    better = {"roc_auc": 0.82, "pr_auc": 0.61, "log_loss": 0.44, "brier": 0.14}
    assert gate(champion, better, RetrainConfig(min_auc_gain=0.01))[0] is True
    assert gate(champion, better, RetrainConfig(min_auc_gain=0.05))[0] is False
    worse_calibrated = {**better, "log_loss": 0.50}
    promoted, reason = gate(champion, worse_calibrated, RetrainConfig(min_auc_gain=0.01))
    assert promoted is False and "log_loss" in reason
