"""kill -9 under load: every request that got a 200 has all its rows in the prediction log."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from pipeline.serving import predlog
from pipeline.serving.instances import EXAMPLE_INSTANCE
from pipeline.serving.local_endpoint import wait_until_healthy

pytestmark = pytest.mark.timeout(240)
LOAD_SECONDS = 2.0
WORKERS = 8
MAX_REQUESTS_PER_WORKER = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 150) -> None:
    problem = wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout)
    assert problem != "exited", f"server exited: {log.read_text()[-2000:]}"
    if problem == "timeout":
        pytest.fail(f"server not healthy after {timeout}s: {log.read_text()[-2000:]}")


def send_until(port: int, stop: threading.Event, worker: int, answered: dict[str, int]) -> None:
    """Keep-alive POSTs of 1-3 instances until stopped or the server dies."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for number in range(MAX_REQUESTS_PER_WORKER):
        if stop.is_set():
            return
        size = 1 + (number + worker) % 3
        body = json.dumps({"instances": [dict(EXAMPLE_INSTANCE, tenure=number % 73)] * size})
        try:
            connection.request("POST", "/v1/models/churn:predict", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException):
            return  # the server was killed
        if answer.status == 200:
            answered[answer.getheader("X-Request-Id")] = size


def test_answered_predictions_survive_kill_9(trained_run: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CHURN_API_TOKEN"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    log_file = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--model", str(trained_run), "--port", str(port),
         "--set", f"paths.artifacts={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=log_file.open("wb"), env=env)
    answered: dict[str, int] = {}
    stop = threading.Event()
    try:
        wait_healthy(port, process, log_file)
        with ThreadPoolExecutor(WORKERS) as pool:
            for worker in range(WORKERS):
                pool.submit(send_until, port, stop, worker, answered)
            time.sleep(LOAD_SECONDS)
            process.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
            process.wait(timeout=10)
            stop.set()
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(answered) >= 20, "too few answered requests to test anything"
    print(f"answered {len(answered)} requests before kill -9")
    rows = pd.concat(predlog.iter_log_frames(tmp_path / "predictions.sqlite"), ignore_index=True)
    logged = rows.groupby("request_id").size().to_dict()
    missing = {rid: size for rid, size in answered.items() if logged.get(rid) != size}
    assert not missing, f"{len(missing)} of {len(answered)} answered requests lack log rows"
