"""Hostile clients against a real `churn serve` on a free 127.0.0.1 port, over raw sockets:
slowloris, idle and half-sent floods, oversized headers, a prediction log locked by another
process, and the log deleted under the server (issue 9). The server runs with one-second
timeouts so every case is over in a few seconds; the load-heavy variants (hundreds of
sockets, a 100 MB header) are marked slow."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.serving import predlog
from pipeline.serving.instances import EXAMPLE_INSTANCE
from pipeline.serving.local_endpoint import wait_until_healthy
from tests.fakes import raw_http
from tests.fakes.raw_http import until_closed

pytestmark = pytest.mark.timeout(240)
ROUTE = "/v1/models/churn:predict"
LIMIT = 64  # serve.limit_concurrency of the server under test
TIMEOUT_S = 1.0  # its keep-alive, header and body timeouts
MAX_HEADER_BYTES = 8192
BUSY_TIMEOUT_MS = 300
BODY = json.dumps({"instances": [EXAMPLE_INSTANCE]}).encode()
PREDICT_HEAD = (f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n").encode()


@dataclass(frozen=True)
class Server:
    port: int
    process: subprocess.Popen
    artifacts: Path
    stderr: Path

    @property
    def log_path(self) -> Path:
        return self.artifacts / "predictions.sqlite"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    artifacts = tmp_path_factory.mktemp("hostile")
    port, stderr = free_port(), artifacts / "serve.log"
    settings = [f"paths.artifacts={artifacts}", f"serve.limit_concurrency={LIMIT}",
                f"serve.keep_alive_timeout_s={TIMEOUT_S}", f"serve.header_timeout_s={TIMEOUT_S}",
                f"serve.body_timeout_s={TIMEOUT_S}", f"serve.max_header_bytes={MAX_HEADER_BYTES}",
                f"serve.log_busy_timeout_ms={BUSY_TIMEOUT_MS}"]
    env = {k: v for k, v in os.environ.items() if k != "CHURN_API_TOKEN"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "pipeline", "serve", "--model", str(trained_run), "--port", str(port),
               "--access-log", *[arg for item in settings for arg in ("--set", item)]]
    with stderr.open("wb") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
    try:
        problem = wait_until_healthy(f"http://127.0.0.1:{port}", process, 150)
        assert problem is None, f"server {problem}: {stderr.read_text()[-2000:]}"
        yield Server(port, process, artifacts, stderr)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def live(server: Server) -> Server:
    """The server, once it answers again (earlier tests' connections are gone)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if request(server, "GET", "/health", timeout=1)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not answering: {server.stderr.read_text()[-2000:]}")


def request(server: Server, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of one request on a new connection."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        answer = connection.getresponse()
        content = answer.read()
    finally:
        connection.close()
    parsed = json.loads(content) if answer.getheader("content-type") == "application/json" else {}
    return answer.status, parsed, time.monotonic() - started


def predict(server: Server, content_type: str = "application/json", timeout: float = 10) -> tuple[int, dict, float]:
    return request(server, "POST", ROUTE, BODY, {"Content-Type": content_type}, timeout)


def connect(server: Server) -> socket.socket:
    return raw_http.connect(server.port, timeout=10)


def status_and_code(answer: bytes) -> tuple[int, str]:
    """Status and machine code of the HTTP layer's errors; for the TF Serving route's
    {"error": "..."} the message stands in for the code."""
    head, _, body = answer.partition(b"\r\n\r\n")
    error = json.loads(body)["error"]
    return int(head.split()[1]), error if isinstance(error, str) else error["code"]


def open_many(server: Server, count: int, first_bytes: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = connect(server)
        if first_bytes:
            with contextlib.suppress(OSError):  # refused over the limit already
                sock.sendall(first_bytes)
        socks.append(sock)
    return socks


def all_closed_within(socks: list[socket.socket], seconds: float) -> list[bytes]:
    """What each socket received before the server closed it; fails if any stays open."""
    deadline = time.monotonic() + seconds
    answers = []
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            answers.append(until_closed(sock)[0])
        except TimeoutError:
            pytest.fail(f"a connection was still open after {seconds} s")
    return answers


# slowloris and friends


def test_a_one_byte_per_second_client_is_dropped(live: Server) -> None:
    sock = connect(live)
    started = time.monotonic()
    with pytest.raises(OSError):  # noqa: PT012 - sending until the server hangs up
        for byte in PREDICT_HEAD:
            sock.send(bytes([byte]))
            time.sleep(0.5 if time.monotonic() - started < 0.5 else 1.0)
            assert time.monotonic() - started < 10, "never dropped"
    assert time.monotonic() - started < TIMEOUT_S + 3
    sock.close()


def check_dropped(answers: list[bytes], count: int, expected: tuple[int, str]) -> None:
    """Each connection got `expected`, or 503 when it was over the connection limit."""
    outcomes = [status_and_code(a) for a in answers if a]
    assert set(outcomes) <= {expected, (503, "overloaded")}
    assert outcomes.count(expected) >= min(count, LIMIT - 4)


@pytest.mark.parametrize("count", [pytest.param(300, marks=pytest.mark.slow), 20])
def test_half_sent_headers_get_408_in_time(live: Server, count: int) -> None:
    socks = open_many(live, count, PREDICT_HEAD[:40])
    check_dropped(all_closed_within(socks, TIMEOUT_S + 3), count, (408, "header_timeout"))


@pytest.mark.parametrize("count", [pytest.param(300, marks=pytest.mark.slow), 20])
def test_content_length_longer_than_the_body_gets_408(live: Server, count: int) -> None:
    socks = open_many(live, count, PREDICT_HEAD + BODY[:30])
    # the predict route answers this 408 itself, in TF Serving's {"error": "..."} shape
    expected = (408, f"the body did not arrive within {TIMEOUT_S:g} s of the headers")
    check_dropped(all_closed_within(socks, TIMEOUT_S + 3), count, expected)
    assert request(live, "GET", "/health")[0] == 200


@pytest.mark.parametrize("count", [pytest.param(300, marks=pytest.mark.slow), 30])
def test_idle_connections_are_closed_and_a_flood_gets_503(live: Server, count: int) -> None:
    socks = open_many(live, count, b"")
    answers = all_closed_within(socks, TIMEOUT_S + 5)  # idle ones closed silently, extra ones 503
    refused = [a for a in answers if a]
    assert len(refused) >= count - LIMIT
    assert {status_and_code(a) for a in refused} <= {(503, "overloaded")}
    assert request(live, "GET", "/health")[0] == 200


def test_a_flood_over_the_limit_is_refused_at_once_while_held_connections_work(live: Server) -> None:
    held = open_many(live, LIMIT, b"")
    try:
        time.sleep(0.2)  # the server has registered them
        started = time.monotonic()
        extra = open_many(live, 10, b"")
        answers = all_closed_within(extra, 2)
        assert {status_and_code(a) for a in answers} == {(503, "overloaded")}
        assert time.monotonic() - started < 2
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("size", [pytest.param(100_000_000, marks=pytest.mark.slow), 2_000_000, 20_000])
def test_an_oversized_header_gets_431_quickly_without_memory_growth(live: Server, size: int) -> None:
    before = live.rss_kib()
    sock = connect(live)
    started = time.monotonic()
    line = b"X-Big: " + b"a" * 1_000_000
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    try:
        for _ in range(max(1, size // len(line))):
            sock.sendall(line if size >= len(line) else line[:size])
        sock.sendall(b"\r\n\r\n")
    except OSError:
        pass  # the server hung up mid-send, as it should
    answer, _ = until_closed(sock)
    assert time.monotonic() - started < 5
    if answer or size < 100_000:  # a reset may swallow the answer to a huge send
        assert status_and_code(answer) == (431, "headers_too_large")
    assert live.rss_kib() - before < 20_000  # KiB


def test_framing_errors_and_forms_are_4xx_json(live: Server) -> None:
    sock = connect(live)
    sock.sendall(b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_and_code(until_closed(sock)[0]) == (400, "invalid_http")
    status, answer, _ = predict(live, content_type="application/x-www-form-urlencoded")
    assert status == 415 and "Content-Type must be application/json" in answer["error"]


# the prediction log

LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_log_locked_by_another_process_gives_fast_503s_and_health_keeps_answering(live: Server) -> None:
    assert predict(live)[0] == 200  # the log exists
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(live.log_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        outcomes: list[tuple[int, dict, float]] = []
        senders = [threading.Thread(target=lambda: outcomes.append(predict(live))) for _ in range(4)]
        for sender in senders:
            sender.start()
        side = [request(live, "GET", path) for path in ("/health", "/metrics", "/health")]
        for sender in senders:
            sender.join(timeout=30)
    finally:
        holder.communicate("", timeout=10)
    assert [status for status, _, _ in side] == [200, 200, 200]
    assert max(seconds for _, _, seconds in side) < 0.5
    assert len(outcomes) == 4
    for status, answer, seconds in outcomes:
        assert status == 503 and "could not be logged" in answer["error"]
        assert seconds < 4 * BUSY_TIMEOUT_MS / 1000 + 1.5  # batches queue behind one another
    assert predict(live)[0] == 200  # lock released: back to normal


def test_a_log_deleted_under_the_server_is_started_again(live: Server) -> None:
    assert predict(live)[0] == 200
    for file in live.artifacts.glob("predictions.sqlite*"):  # rm artifacts/predictions.sqlite*
        file.unlink()
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    answered = []
    for _ in range(3):
        connection.request("POST", ROUTE, BODY, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        answered.append(answer.getheader("X-Request-Id"))
    connection.close()
    frames = list(predlog.iter_log_frames(live.log_path))
    logged = {request_id for frame in frames for request_id in frame["request_id"]}
    assert logged == set(answered)  # every acknowledged prediction is readable at the path
    assert live.log_path.stat().st_mode & 0o777 == 0o600
    assert "deleted or replaced" in live.stderr.read_text()


def test_the_access_log_prints_lines(live: Server) -> None:
    assert predict(live)[0] == 200
    deadline = time.monotonic() + 5
    # uvicorn < 0.55 prints the path quoted (churn%3Apredict), later ones as sent (raw_path)
    lines = [f'"POST /v1/models/churn{colon}predict HTTP/1.1" 200' for colon in ("%3A", ":")]
    while not any(line in live.stderr.read_text() for line in lines):
        assert time.monotonic() < deadline, live.stderr.read_text()[-2000:]
        time.sleep(0.05)
