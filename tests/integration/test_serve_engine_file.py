"""The NumPy engine file: written and verified at export, loaded by the server without
TensorFlow, ignored (with a log line) when missing or stale, re-checked with --verify."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core import atomic, rundir
from pipeline.errors import RunDirError
from pipeline.serving import engine_file
from pipeline.serving import scorer as scorer_module
from pipeline.serving.instances import EXAMPLE_INSTANCE, encode_frame
from pipeline.serving.scorer import load_scorer, sample_batch

pytestmark = pytest.mark.timeout(300)

# Starts `churn serve` (the CLI app) in a thread of a fresh interpreter, posts one instance
# until it is answered 200, and prints which heavy modules that process imported.
SERVE_AND_REPORT = """
import json, sys, threading, time, urllib.error, urllib.request
from pipeline.cli.app import app
run, port, artifacts, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
args = ["serve", "--model", run, "--port", port, "--set", f"paths.artifacts={artifacts}", *extra]
threading.Thread(target=lambda: app(args, standalone_mode=False), daemon=True).start()
from pipeline.serving.instances import EXAMPLE_INSTANCE
body = json.dumps({"instances": [EXAMPLE_INSTANCE]}).encode()
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/churn:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status, served = answer.status, json.loads(answer.read())
            break
    except (urllib.error.URLError, OSError):
        time.sleep(0.05)
else:
    sys.exit("no answer")
health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
print(json.dumps({"status": status, "engine": health["engine"], "answer": served,
                  "modules": sorted(m for m in ("tensorflow", "keras", "sklearn", "pandas") if m in sys.modules)}))
sys.stdout.flush()
import os; os._exit(0)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_in_fresh_process(run: Path, tmp_path: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SERVE_AND_REPORT, str(run), str(free_port()),
                           str(tmp_path / "artifacts"), *extra], capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_export_writes_a_verified_engine_file(trained_run: Path) -> None:
    document = atomic.read_json(rundir.RunDir(trained_run).numpy_engine_file)
    verification = document["verification"]
    assert verification["passed"] is True and verification["rows"] == scorer_module.VERIFY_ROWS
    assert 0.0 <= verification["max_abs_diff"] <= verification["tolerance"] == scorer_module.MATCH_TOLERANCE
    assert verification["outputs"] == ["churn_probability", "raw_probability", "interval", "churn"]
    assert document["savedmodel_sha256"] == engine_file.savedmodel_digest(trained_run / "model")
    assert rundir.NUMPY_ENGINE in rundir.SHIPPED  # registered versions keep it


def test_the_stored_engine_answers_what_the_saved_model_does(trained_run: Path, small_config) -> None:
    stored = load_scorer(small_config, str(trained_run))
    reference = load_scorer(small_config, str(trained_run), "savedmodel")
    assert stored.engine == "numpy" and reference.engine == "savedmodel"
    sample = sample_batch(300)
    ours, theirs = stored.outputs(sample), reference.outputs(sample)
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype and ours[name].shape == theirs[name].shape
    np.testing.assert_allclose(ours["interval"], theirs["interval"], atol=1e-5)
    np.testing.assert_array_equal(ours["churn"], theirs["churn"])


def test_numpy_engine_serves_without_importing_tensorflow(trained_run: Path, tmp_path: Path) -> None:
    served = serve_in_fresh_process(trained_run, tmp_path, "--engine", "numpy")
    assert served["status"] == 200 and served["engine"] == "numpy"
    assert set(served["answer"]["predictions"][0]) == {"churn_probability", "raw_probability", "interval", "churn"}
    assert served["modules"] == []


@pytest.mark.slow
def test_verify_loads_tensorflow_and_still_serves_numpy(trained_run: Path, tmp_path: Path) -> None:
    served = serve_in_fresh_process(trained_run, tmp_path, "--verify")
    assert served["status"] == 200 and served["engine"] == "numpy"
    assert "tensorflow" in served["modules"]


@pytest.mark.parametrize("spoil", ["missing", "other_savedmodel", "other_answer", "corrupt"])
def test_an_unusable_engine_file_falls_back_to_verifying_with_tensorflow(
        run_copy: Path, small_config, spoil: str, caplog: pytest.LogCaptureFixture) -> None:
    path = rundir.RunDir(run_copy).numpy_engine_file
    document = atomic.read_json(path)
    if spoil == "missing":
        path.unlink()
    elif spoil == "other_savedmodel":
        atomic.write_json(path, {**document, "savedmodel_sha256": "0" * 64})
    elif spoil == "other_answer":
        atomic.write_json(path, {**document, "answer": {**document["answer"], "threshold": 0.123}})
    else:
        path.write_text('{"format": 1, "network": ', encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="pipeline.serving.scorer"):
        scorer = load_scorer(small_config, str(run_copy))
    expected = {"missing": "not found", "other_savedmodel": "another SavedModel", "other_answer": "stale",
                "corrupt": "unreadable"}[spoil]
    assert "NumPy engine file unusable" in caplog.text and expected in caplog.text
    assert "NumPy fast path verified" in caplog.text  # folded from model.keras and checked, as before
    assert scorer.engine == "numpy"
    probability = scorer.score(encode_frame(pd.DataFrame([EXAMPLE_INSTANCE]))).probability
    assert 0.0 <= probability[0] <= 1.0


def test_export_refuses_an_engine_that_does_not_match(run_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    model = keras.models.load_model(run_copy / rundir.KERAS_MODEL)
    before = rundir.RunDir(run_copy).numpy_engine_file.read_bytes()
    monkeypatch.setattr(scorer_module, "MATCH_TOLERANCE", -1.0)  # nothing can match
    with pytest.raises(RunDirError, match="does not match the SavedModel"):
        engine_file.export_engine(model, run_copy)
    assert rundir.RunDir(run_copy).numpy_engine_file.read_bytes() == before  # nothing written


def test_the_registry_ships_the_engine_file(trained_run: Path, tmp_path: Path) -> None:
    from pipeline.config import load_config
    from pipeline.registry.local_registry import LocalRegistry

    config = load_config(None, [f"paths.artifacts={tmp_path}"], environ={})
    registry = LocalRegistry.from_config(config)
    version = registry.upload(trained_run)
    resolved = registry.resolve(str(version))
    assert (Path(resolved.source_dir) / rundir.NUMPY_ENGINE).is_file()
    assert load_scorer(config, f"churn@{version}").engine == "numpy"
