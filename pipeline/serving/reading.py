"""Reading a predict request's headers and body: ASGI helpers for pipeline.serving.app.

The body is read with a size limit (the declared Content-Length and the bytes received) and
one deadline for the whole body, then parsed with orjson; each problem is a RequestError
with the status the app answers (400, 408, 413, 415, 499).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import Receive, Scope

from pipeline.serving.instances import RequestError

JSON = "application/json"
_JSON_BYTES = JSON.encode()
CLIENT_GONE = 499  # nginx's code for a client that closed the connection before the answer
# Scope key under which the HTTP layer (pipeline.serving.connections) passes the server's
# set of requests in progress, so the app can tell a request that is alone from one that
# has company queued behind it (a task created but not yet run).
REQUESTS_IN_PROGRESS = "churn.requests_in_progress"


def header(scope: Scope, name: bytes) -> bytes | None:
    """A request header (ASGI servers lower-case the names)."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def check_content_type(scope: Scope) -> None:
    given = header(scope, b"content-type") or b""
    if given.partition(b";")[0].strip().lower() != _JSON_BYTES:
        raise RequestError(415, "unsupported_media_type", f"Content-Type must be {JSON} "
                           f"(got {given[:60].decode('latin-1')!r})", field="Content-Type")


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The body, refused as soon as the declared or the received size passes `limit`, or
    when it is not complete within `timeout_s` (408)."""
    declared = header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "invalid_content_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(int(declared), limit)
    if _body_complete(receive):  # receive() answers at once: nothing to time
        return await _receive_body(receive, limit)
    # One timer that cancels this task, rather than wait_for() around every receive():
    # wait_for creates a task per call on the hot path.
    task = asyncio.current_task()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()  # type: ignore[union-attr]

    timer = asyncio.get_running_loop().call_later(timeout_s, expire)
    try:
        return await _receive_body(receive, limit)
    except asyncio.CancelledError:
        if not expired:
            raise
        if hasattr(task, "uncancel"):  # Python >= 3.11: this cancellation is handled here
            task.uncancel()  # type: ignore[union-attr]
        raise RequestError(408, "body_timeout", f"the body did not arrive within {timeout_s:g} s "
                           "of the headers") from None
    finally:
        timer.cancel()


def _body_complete(receive: Receive) -> bool:
    """Whether the whole body has arrived already: uvicorn's receive is a bound method of
    the request's cycle, which says so (more_body false once the message is complete).
    Another server's receive: not known, so False (the body is timed)."""
    cycle = getattr(receive, "__self__", None)
    return getattr(cycle, "more_body", True) is False and getattr(cycle, "disconnected", True) is False


async def _receive_body(receive: Receive, limit: int) -> bytes:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise RequestError(CLIENT_GONE, "client_disconnected", "the client went away before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes, protocol: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # TF Serving's parser (rapidjson with kParseStopWhenDoneFlag) stops after the
        # document and never reads what follows; Vertex's JSON front end refuses it.
        if protocol == "tfserving" and exc.msg == "unexpected content after document":
            return parse_json(body[:exc.pos], protocol)
        raise RequestError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(413, "body_too_large", f"body of at least {size:,} bytes is over the {limit:,}-byte "
                        "limit (Vertex AI's is 1.5 MB); split the request")
