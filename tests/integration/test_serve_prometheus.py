"""A real Prometheus scrapes the server; its HTTP API returns the latency histogram."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from pipeline.serving.app import ServeSettings, create_app
from pipeline.serving.instances import EXAMPLE_INSTANCE
from pipeline.serving.predlog import PredictionLog
from pipeline.serving.scorer import load_scorer
from pipeline.serving.server import bind_socket

pytestmark = pytest.mark.timeout(180)
QUERY = "churn_request_latency_seconds_bucket"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(app: object) -> Iterator[int]:
    """Serve `app` with uvicorn on a free loopback port in a background thread."""
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def post(port: int, body: dict) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/churn:predict",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def query(port: int, expression: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())["data"]["result"]
    except (OSError, ValueError, KeyError):
        return []


def test_prometheus_scrapes_the_latency_histogram(trained_run: Path, small_config, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the `prometheus` binary is not installed (Debian: apt-get install -y prometheus; "
                    ".ci/run installs it)")
    scorer = load_scorer(small_config, str(trained_run))
    log = PredictionLog(tmp_path / "log.sqlite").open()
    app = create_app(scorer, log, ServeSettings(100, 1_500_000, frozenset({"churn"})))
    with live_server(app) as port:
        prometheus_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: churn\n"
                          f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{prometheus_port}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
        try:
            statuses = [post(port, {"instances": [EXAMPLE_INSTANCE] * (1 + i % 3)}) for i in range(20)]
            statuses.append(post(port, {"instances": []}))
            assert statuses.count(200) == 20 and statuses[-1] == 400
            deadline, series = time.monotonic() + 60, []
            while time.monotonic() < deadline and process.poll() is None:
                series = query(prometheus_port, QUERY)
                if series and any(float(s["value"][1]) > 0 for s in series):
                    break
                time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(timeout=20)
    log.close()
    assert series, f"Prometheus returned no {QUERY} series: {(tmp_path / 'prometheus.log').read_text()[-1500:]}"
    assert {s["metric"]["route"] for s in series} == {"/v1/models/{name}:predict"}
    assert "+Inf" in {s["metric"]["le"] for s in series}
    assert max(float(s["value"][1]) for s in series) >= 20
