"""Multi-worker training: a chief and a worker as two local processes (pipeline.tools.local_cluster),
against single-process training on the same rows; a task that never starts is a timeout error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import atomic
from pipeline.core.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
# Both are trained by the same network, batches and Adam; the distributed one sums gradients over
# two replicas in another order, so the weights drift apart a little. Measured: 0.8922 vs 0.8910.
AUC_MARGIN = 0.02
STRAY = ("Traceback", "UNAVAILABLE", "heartbeat", "Socket closed", "Connection reset", "error:")


def cluster(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # CHURN_CONFIG too: `make test-slow` exports a path relative to the project, not to tmp_path.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "CLUSTER_SPEC", "CHURN_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pipeline.tools.local_cluster", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path, env=env)


def overrides(tmp_path: Path, epochs: int = 4) -> list[str]:
    return ["--set", f"paths.artifacts={tmp_path / 'artifacts'}", "--set", f"train.epochs={epochs}",
            "--set", "train.tensorboard=false"]


@pytest.mark.slow
def test_two_workers_train_as_well_as_one_process(small_csv: Path, tmp_path: Path) -> None:
    from pipeline.config import load_config
    from pipeline.training.train import train_run

    run_dir = tmp_path / "distributed"
    done = cluster(tmp_path, "--workers", "2", "--", "--data", str(small_csv), "--run-dir", str(run_dir),
                   *overrides(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(run_dir)
    worker_log = next(Path(line.rsplit("log ", 1)[1]) for line in done.stderr.splitlines() if "log " in line)
    for text in (done.stderr, worker_log.read_text()):
        assert not [word for word in STRAY if word in text], text[-3000:]
    distributed = RunDir.open(run_dir)  # the chief wrote a complete run directory, SavedModel included
    assert (distributed.model_dir / "saved_model.pb").is_file()
    assert set(distributed.history()) == {"loss", "val_loss"}

    config = load_config(None, [f"paths.artifacts={tmp_path / 'artifacts'}", "train.epochs=4",
                                "train.tensorboard=false"], environ={})
    single = RunDir(train_run(config, small_csv, tmp_path / "single"))
    auc = {name: run.metrics().test["keras"]["roc_auc"] for name, run in (("one", single), ("two", distributed))}
    assert abs(auc["one"] - auc["two"]) <= AUC_MARGIN, auc
    first_loss = (single.history()["loss"][0], distributed.history()["loss"][0])
    assert first_loss[0] == pytest.approx(first_loss[1], rel=0.02), first_loss


@pytest.mark.slow
def test_a_worker_that_never_starts_is_a_timeout_error(small_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "never"
    done = cluster(tmp_path, "--workers", "2", "--only", "chief", "--", "--data", str(small_csv),
                   "--run-dir", str(run_dir), *overrides(tmp_path), "--set", "train.cluster_timeout_s=4",
                   timeout=240)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "did not all join within 4 s" in errors[0] and "train.cluster_timeout_s" in errors[0]
    assert "Traceback" not in done.stderr
    assert not run_dir.exists()


@pytest.mark.slow
def test_profile_writes_a_trace_and_the_time_split(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from pipeline.tools import synth

    data = tmp_path / "tiny.csv"
    synth.write_customers(synth.generate_customers(300, seed=5), data)
    run_dir = tmp_path / "profiled"
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--run-dir", str(run_dir), "--profile",
                                      *overrides(tmp_path, epochs=1), "--set", "train.profile_steps=3"])
    assert result.exit_code == 0, result.output
    run = RunDir.open(run_dir)
    traces = list(run.profile_traces_dir.rglob("*.xplane.pb"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0
    found = atomic.read_json(run.profile_file)
    assert found["steps"] == 3 and found["input_s"] >= 0 and found["compute_s"] > 0
    assert 0 <= found["input_share"] <= 1
    assert (run.path / found["trace"]) == traces[0]  # relative to the run: valid after the rename
    assert "profile of 3 steps: input" in result.output and "compute" in result.output
    assert str(traces[0]) in " ".join(result.output.split())
