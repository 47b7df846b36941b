"""The HTTP layer's limits (pipeline.serving.connections) on a bare app: raw sockets against
uvicorn in a thread on 127.0.0.1, with sub-second timeouts so each case takes about one."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.serving.connections import BODY_GRACE_S, ConnectionLimits
from pipeline.serving.server import bind_socket, uvicorn_config
from tests.fakes.raw_http import connect, until_closed

pytestmark = pytest.mark.timeout(60)
LIMITS = dict(limit_concurrency=4, keep_alive_timeout_s=0.5, header_timeout_s=0.5, body_timeout_s=0.5,
              max_header_bytes=2048)
GET = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[int, list[str]]]:
    async def ok(request: Request) -> Response:
        return Response(b'{"ok": true}', media_type="application/json")

    refused: list[str] = []
    app = Starlette(routes=[Route("/ok", ok, methods=["GET", "POST"])])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(app, ConnectionLimits(**LIMITS, on_refused=refused.append)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1], refused
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def error_of(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    return int(head.split()[1]), json.loads(body)["error"]["code"]


def test_an_idle_connection_is_closed(served: tuple[int, list[str]]) -> None:
    answer, waited = until_closed(connect(served[0]))
    assert answer == b"" and 0.4 < waited < 2


def test_a_kept_alive_connection_is_closed_when_idle(served: tuple[int, list[str]]) -> None:
    sock = connect(served[0])
    sock.sendall(GET)
    answer, waited = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200") and 0.4 < waited < 2


@pytest.mark.parametrize("sent", [b"GET /ok HTTP/1.1\r\nHost: x\r\n", b"G"])
def test_incomplete_headers_get_408(served: tuple[int, list[str]], sent: bytes) -> None:
    sock = connect(served[0])
    sock.sendall(sent)
    answer, waited = until_closed(sock)
    assert error_of(answer) == (408, "header_timeout") and waited < 2


def test_a_byte_per_interval_client_is_dropped(served: tuple[int, list[str]]) -> None:
    sock = connect(served[0])
    started = time.monotonic()
    with pytest.raises(OSError):  # noqa: PT012 - sending until the server hangs up
        for byte in GET * 100:
            sock.send(bytes([byte]))
            time.sleep(0.05)  # faster than the idle timeout, slower than the header deadline
            if time.monotonic() - started > 5:
                break
    assert time.monotonic() - started < 2
    sock.close()


@pytest.mark.parametrize("size", [3000, 2_000_000])  # one chunk, many chunks
def test_oversized_headers_get_431(served: tuple[int, list[str]], size: int) -> None:
    sock = connect(served[0])
    with contextlib.suppress(OSError):  # closed while sending: the answer may still be readable
        sock.sendall(b"GET /ok HTTP/1.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
    answer, waited = until_closed(sock)
    assert waited < 2
    if answer or size < 100_000:  # a reset can swallow the answer to a huge send
        assert error_of(answer) == (431, "headers_too_large")


def test_an_unfinished_body_is_dropped_even_where_the_app_does_not_read_it(served: tuple[int, list[str]]) -> None:
    sock = connect(served[0])
    sock.sendall(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    started = time.monotonic()
    while time.monotonic() - started < 4:  # keep the idle timer from firing: only the body deadline may
        try:
            sock.send(b"c")
        except OSError:
            break
        time.sleep(0.1)
    assert time.monotonic() - started < LIMITS["body_timeout_s"] + BODY_GRACE_S + 1
    sock.close()


def test_connections_over_the_limit_get_503_at_once(served: tuple[int, list[str]]) -> None:
    port, refused = served
    held = [connect(port) for _ in range(LIMITS["limit_concurrency"])]
    time.sleep(0.1)  # let the server register them
    extra = [connect(port) for _ in range(3)]
    try:
        for sock in extra:
            answer, waited = until_closed(sock)
            assert error_of(answer) == (503, "overloaded") and waited < 0.4
        held[0].sendall(GET)
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    assert refused.count("connections") >= 3


def test_framing_errors_get_the_json_error_body(served: tuple[int, list[str]]) -> None:
    sock = connect(served[0])
    sock.sendall(b"FOO /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    answer, _ = until_closed(sock)
    assert error_of(answer) == (400, "invalid_http")
