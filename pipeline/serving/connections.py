"""The HTTP layer's limits: uvicorn's httptools protocol with deadlines and size caps.

uvicorn closes an idle keep-alive connection only after a first response, and has no
header deadline, no header size cap (httptools) and no body deadline, so silent, slow or
endless clients could hold a connection, a file descriptor and memory forever. Per
connection this protocol adds:

    idle           no byte of a request within keep_alive_timeout_s, before the first
                   request too: closed silently (uvicorn's own keep-alive timer)
    headers        request line and headers not complete header_timeout_s after their
                   first byte: 408, closed; more than max_header_bytes of them: 431, closed
    body           not complete body_timeout_s (+ BODY_GRACE_S) after the headers: closed.
                   Predict routes answer 408 themselves at body_timeout_s
                   (pipeline.serving.app); the grace lets that answer go out first
    connections    more than limit_concurrency open: 503 at once, closed
    bad framing    uvicorn's plain-text 400 becomes the JSON error body of every other 4xx

Each request's scope also carries uvicorn's set of requests in progress (reading.
REQUESTS_IN_PROGRESS), so the app knows when a request is alone.

Refusals are JSON {"error": {...}} like the app's, carry Connection: close, and are
counted in churn_connections_refused_total{reason}.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline.serving.reading import REQUESTS_IN_PROGRESS

BODY_GRACE_S = 1.0


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the parser error that follows reaches
    send_400_response, which sends the pending refusal instead."""


@dataclass(frozen=True)
class ConnectionLimits:
    """What one server enforces per connection (config.serve)."""

    limit_concurrency: int = 512
    keep_alive_timeout_s: float = 5.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_header_bytes: int = 16_384
    on_refused: Callable[[str], None] = lambda reason: None


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for uvicorn.Config(http=...) enforcing `limits`."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def refusal(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with the app's JSON error body, closing the connection."""
    body = orjson.dumps({"error": {"code": code, "message": message, "instance": None, "field": None}})
    head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus the deadlines and caps in the module docstring."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._headers_done = 0  # header blocks completed on this connection
        self._pending: tuple[str, int, str, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.limit_concurrency:
            self.connections.discard(self)  # gone now, not when the loop reports it closed
            self._refuse("connections", 503, "overloaded", "too many open connections; retry later")
            return
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self._headers_done
        super().data_received(data)
        # Count only chunks in which no header block ended: the parser holds at most
        # max_header_bytes plus one chunk of an unfinished header block.
        if self._in_headers and self._headers_done == before and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse("headers_too_large", 431, "headers_too_large", self._too_large_message())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._arm(self.limits.header_timeout_s, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self.limits.max_header_bytes:  # arrived in one chunk, so not counted above
            self._pending = ("headers_too_large", 431, "headers_too_large", self._too_large_message())
            raise _Refused
        self._in_headers = False
        self._headers_done += 1
        self._arm(self.limits.body_timeout_s + BODY_GRACE_S, self._body_too_slow)
        self.scope[REQUESTS_IN_PROGRESS] = self.tasks  # type: ignore[literal-required]  # uvicorn's live set
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_timer()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._pending is not None:
            self._refuse(*self._pending)
            return
        self.limits.on_refused("invalid_http")
        self.transport.write(refusal(400, "invalid_http", f"{msg} (not a valid HTTP/1.1 request)"))
        self.transport.close()

    def _too_large_message(self) -> str:
        return f"request line and headers are over the {self.limits.max_header_bytes:,}-byte limit"

    def _headers_too_slow(self) -> None:
        self._timer = None
        self._refuse("header_timeout", 408, "header_timeout",
                     f"request headers not complete within {self.limits.header_timeout_s:g} s")

    def _body_too_slow(self) -> None:
        self._timer = None
        self.limits.on_refused("body_timeout")
        self.transport.close()

    def _refuse(self, reason: str, status: int, code: str, message: str) -> None:
        self.limits.on_refused(reason)
        self._cancel_timer()
        if self.cycle is None or self.cycle.response_complete:  # else an answer is being written
            self.transport.write(refusal(status, code, message))
        self.transport.close()

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(seconds, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
