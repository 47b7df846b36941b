"""A recording JSON/REST fake server: the plumbing behind tests/fakes/vertex_server.py.

`http.server` in a daemon thread on 127.0.0.1 and a free port. A subclass lists its routes
(method, path regex, action name, handler); every request is recorded with its action, path,
query and JSON body, and `fail_next(action, ...)` makes the next call of an action fail.
Errors use Google's JSON error shape, so google-api-core raises its usual exceptions.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GRPC_CODES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
              500: "INTERNAL"}
GRPC_NUMBERS = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "ALREADY_EXISTS": 6,
                "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
                "INTERNAL": 13}


_NOT_JSON = object()  # a request body that does not parse


class ApiError(Exception):
    def __init__(self, http_status: int, message: str, status: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.status = status or GRPC_CODES.get(http_status, "UNKNOWN")


@dataclass
class Recorded:
    action: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


@dataclass
class RawAnswer:
    """An answer sent as these bytes, unchanged (what :rawPredict returns from a container)."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class Failure:
    message: str
    http_status: int | None = None
    status: str = "FAILED_PRECONDITION"


def error_body(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def matches_filter(resource: dict[str, Any], filter_text: str) -> bool:
    """AIP-160 equality clauses joined by AND: display_name="x", labels.k="v"."""
    for clause in re.split(r"\s+AND\s+", filter_text.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(r'\s*([\w.-]+)\s*=\s*"?([^"]*)"?\s*', clause)
        if not match:
            raise ApiError(400, f"Unsupported filter clause: {clause!r}")
        key, value = match.groups()
        if key in ("display_name", "displayName"):
            actual = resource.get("displayName")
        elif key.startswith("labels."):
            actual = resource.get("labels", {}).get(key[len("labels."):])
        elif key == "endpoint":
            actual = resource.get("endpoint")
        else:
            raise ApiError(400, f"Unsupported filter field: {key!r}")
        if actual != value:
            return False
    return True


class RecordingRestServer:
    """Start with `start()` or as a context manager; `url` is the base URL to call."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._failures: dict[str, Failure] = {}
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._routes = [(m, re.compile(p), a, h) for m, p, a, h in self.routes()]

    # Actions whose handler gets the request body as bytes, unparsed (it may not be JSON),
    # and may return a RawAnswer.
    raw_actions: frozenset[str] = frozenset()

    def routes(self) -> list[tuple[str, str, str, Any]]:
        """(HTTP method, path regex with named groups, action, handler(params, query, body))."""
        raise NotImplementedError

    def failed_call(self, params: dict[str, str], failure: Failure) -> dict[str, Any]:
        """The answer to a call failed by fail_next without an HTTP status."""
        raise ApiError(500, failure.message, "INTERNAL")

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> RecordingRestServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # ---- test helpers ----------------------------------------------------------------
    def fail_next(self, action: str, message: str = "simulated failure",
                  http_status: int | None = None, status: str = "FAILED_PRECONDITION") -> None:
        """Make the next `action` fail: with `http_status` as an immediate HTTP error, else
        as `failed_call` answers (Vertex: a done operation carrying the error)."""
        self._failures[action] = Failure(message, http_status, status)

    def calls(self, action: str) -> list[Recorded]:
        return [r for r in self.requests if r.action == action]

    def bodies(self, action: str) -> list[dict[str, Any]]:
        return [r.body or {} for r in self.calls(action)]

    def reset_requests(self) -> None:
        self.requests.clear()

    # ---- dispatch --------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, raw: bytes) -> tuple[int, dict[str, Any] | RawAnswer]:
        parts = urlsplit(raw_path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = _NOT_JSON
        for route_method, pattern, action, handler in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                with self._lock:
                    recorded = None if body is _NOT_JSON else body
                    self.requests.append(Recorded(action, method, path, query, recorded))
                    if body is _NOT_JSON and action not in self.raw_actions:
                        return 400, error_body(400, "body is not JSON", "INVALID_ARGUMENT")
                    given = raw if action in self.raw_actions else (body if body is not None else {})
                    try:
                        return 200, self._run(action, handler, match.groupdict(), query, given)
                    except ApiError as exc:
                        return exc.http_status, error_body(exc.http_status, str(exc), exc.status)
        with self._lock:
            self.requests.append(Recorded("unknown", method, path, query, None if body is _NOT_JSON else body))
        return 404, error_body(404, f"fake: no route for {method} {path}", "NOT_FOUND")

    def _run(self, action: str, handler: Any, params: dict[str, str],
             query: dict[str, list[str]], body: Any) -> Any:
        failure = self._failures.pop(action, None)
        if failure and failure.http_status:
            raise ApiError(failure.http_status, failure.message, failure.status)
        if failure:
            return self.failed_call(params, failure)
        return handler(params, query, body)


class _Handler(BaseHTTPRequestHandler):
    fake: RecordingRestServer
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload = self.fake.handle(self.command, self.path, raw)
        if isinstance(payload, RawAnswer):
            status, data, content_type = payload.status, payload.body, payload.content_type
        else:
            data, content_type = json.dumps(payload).encode(), "application/json; charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return
