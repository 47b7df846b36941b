"""Commands that write output never delete or overwrite what they did not create, refuse
unwritable locations in one line (exit 2), leave nothing behind, and make folders with the
user's umask and customer-data files 0600."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.backends import backend_for
from pipeline.errors import OutputError
from pipeline.tools import simulate as simulate_module
from tests.fakes.locations import mode, read_only_folder, run_churn, snapshot

pytestmark = pytest.mark.usefixtures("usual_umask")


def users_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    (path / "sub" / "data.csv").write_text("a,b\n")
    path.chmod(0o750)
    return path


def frozen_clock() -> SimpleNamespace:
    """A stand-in for a module's `dt`: every run happens in the same second."""
    moment = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone.utc)
    return SimpleNamespace(datetime=SimpleNamespace(now=lambda tz=None: moment), timezone=dt.timezone)


def settings(tmp_path: Path) -> list[str]:
    return ["--set", f"paths.artifacts={tmp_path / 'artifacts'}"]


def assert_one_line(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err


def test_monitor_refuses_a_non_empty_out_folder(small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = users_folder(tmp_path / "results")
    before = snapshot(folder)
    code, _, err = run_churn(["monitor", "--current", str(small_csv), "--out", str(folder), *settings(tmp_path)],
                             monkeypatch, capsys)
    assert_one_line(code, err, str(folder), "not empty")
    assert snapshot(folder) == before and mode(folder) == 0o750


def test_monitor_out_dot_deletes_nothing(small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(users_folder(tmp_path / "work"))
    before = snapshot(Path.cwd())
    local_yaml = Path(__file__).resolve().parents[2] / "configs" / "local.yaml"  # the folder has no config
    code, _, err = run_churn(["monitor", "--current", str(small_csv), "--out", ".", "--config", str(local_yaml),
                              *settings(tmp_path)], monkeypatch, capsys)
    assert_one_line(code, err, "not empty")
    assert snapshot(Path.cwd()) == before


def test_monitor_out_existing_file(small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "drift.json"
    target.write_text("mine")
    code, _, err = run_churn(["monitor", "--current", str(small_csv), "--out", str(target), *settings(tmp_path)],
                             monkeypatch, capsys)
    assert_one_line(code, err, str(target), "is a file")
    assert target.read_text() == "mine"


def test_monitor_out_in_a_read_only_folder(small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "ro"
    with read_only_folder(locked, monkeypatch):
        code, _, err = run_churn(["monitor", "--current", str(small_csv), "--out", str(locked / "m"),
                                  *settings(tmp_path)], monkeypatch, capsys)
        assert_one_line(code, err, str(locked / "m"), "cannot write here")
        assert list(locked.iterdir()) == []


def test_monitor_output_has_normal_modes_and_is_never_overwritten(trained_run: Path, small_csv: Path,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m"
    args = ["monitor", "--model", str(trained_run), "--current", str(small_csv), "--out", str(out),
            *settings(tmp_path)]
    code, _, err = run_churn(args, monkeypatch, capsys)
    assert code == 0, err
    assert mode(out) == 0o755 and mode(out / "drift.json") == 0o644
    first = snapshot(out)
    code, _, err = run_churn(args, monkeypatch, capsys)
    assert_one_line(code, err, "not empty")
    assert snapshot(out) == first


def test_logs_export_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_churn(["logs", "export", "--since", "99999999d", "--out", str(tmp_path / "x.csv"),
                              *settings(tmp_path)], monkeypatch, capsys)
    assert_one_line(code, err, "99999999d")
    existing = tmp_path / "mine.csv"
    existing.write_text("precious")
    code, _, err = run_churn(["logs", "export", "--out", str(existing), *settings(tmp_path)], monkeypatch, capsys)
    assert_one_line(code, err, str(existing), "already exists")
    assert existing.read_text() == "precious"
    locked = tmp_path / "ro"
    with read_only_folder(locked, monkeypatch):
        code, _, err = run_churn(["logs", "export", "--out", str(locked / "log.csv"), *settings(tmp_path)],
                                 monkeypatch, capsys)
        assert_one_line(code, err, str(locked / "log.csv"), "cannot write here")
        assert list(locked.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "ro"]


def test_predict_refuses_an_existing_output_unless_told(trained_run: Path, small_csv: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "scores.csv"
    existing.write_text("precious")
    existing.chmod(0o644)
    bystander = tmp_path / ".scores.csv.partial"  # the fixed temporary name of old
    bystander.write_text("not ours")
    args = ["predict", "--input", str(small_csv), "--output", str(existing), "--model", str(trained_run),
            *settings(tmp_path)]
    code, _, err = run_churn(args, monkeypatch, capsys)
    assert_one_line(code, err, str(existing), "already exists")
    assert existing.read_text() == "precious"
    code, _, err = run_churn([*args, "--overwrite"], monkeypatch, capsys)
    assert code == 0, err
    assert existing.read_text().startswith("customerID,") and mode(existing) == 0o600
    assert bystander.read_text() == "not ours"


def test_train_run_dir_refusals(small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = users_folder(tmp_path / "runs")
    before = snapshot(folder)
    code, _, err = run_churn(["train", "--data", str(small_csv), "--run-dir", str(folder), *settings(tmp_path)],
                             monkeypatch, capsys)
    assert_one_line(code, err, str(folder), "not empty")
    assert snapshot(folder) == before
    locked = tmp_path / "ro"
    with read_only_folder(locked, monkeypatch):
        code, _, err = run_churn(["train", "--data", str(small_csv), "--run-dir", str(locked / "run"),
                                  *settings(tmp_path)], monkeypatch, capsys)
        assert_one_line(code, err, str(locked / "run"), "cannot write here")
        assert list(locked.iterdir()) == []


class _Accepting(http.server.BaseHTTPRequestHandler):
    posts = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).posts += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture()
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    _Accepting.posts = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def test_simulate_labels_are_private_and_runs_never_share_a_folder(endpoint: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate_module, "dt", frozen_clock())
    first = simulate_module.simulate(endpoint, "churn-endpoint", [], 20, tmp_path / "sims")
    second = simulate_module.simulate(endpoint, "churn-endpoint", [], 20, tmp_path / "sims")
    assert first.labels_csv.parent.name == "20260131-120000"
    assert second.labels_csv.parent.name == "20260131-120000-2"
    for result in (first, second):
        assert mode(result.labels_csv) == 0o600 and mode(result.labelled_csv) == 0o600
        assert mode(result.labels_csv.parent) == 0o755
    locked = tmp_path / "ro"
    with read_only_folder(locked, monkeypatch):
        _Accepting.posts = 0
        with pytest.raises(OutputError, match="cannot write here"):
            simulate_module.simulate(endpoint, "churn-endpoint", [], 20, locked / "sims")
        assert _Accepting.posts == 0  # refused before any traffic was sent
        assert list(locked.iterdir()) == []


def test_a_failed_retrain_keeps_an_earlier_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  small_config) -> None:
    from pipeline.training import retrain as retrain_module

    config = small_config.model_copy(deep=True)
    config.paths.artifacts = tmp_path / "artifacts"
    monkeypatch.setattr(retrain_module, "dt", frozen_clock())
    earlier = config.paths.artifacts / "retrain" / "20260131-120000"
    earlier.mkdir(parents=True)
    (earlier / "decision.json").write_text('{"promoted": true}')
    backend = backend_for(config)
    monkeypatch.setattr(backend.registry, "fetch", lambda ref: None)
    monkeypatch.setattr(retrain_module, "build_window",
                        lambda config, new_data: SimpleNamespace(training=None, holdout=None, source="x"))

    def fails(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("training failed")

    monkeypatch.setattr(retrain_module, "train_run", fails, raising=False)
    monkeypatch.setattr("pipeline.training.train.train_run", fails)
    with pytest.raises(RuntimeError):
        retrain_module.retrain(config, backend)
    assert (earlier / "decision.json").read_text() == '{"promoted": true}'
    assert [p.name for p in earlier.parent.iterdir()] == ["20260131-120000"]
