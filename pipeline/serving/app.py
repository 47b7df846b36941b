"""The prediction server's FastAPI application: what Vertex AI and TF Serving answer.

    POST /v1/projects/{p}/locations/{l}/endpoints/{e}:predict     Vertex (Google's SDK posts here)
    POST /v1/projects/{p}/locations/{l}/endpoints/{e}:rawPredict  Vertex raw: the body goes to TF Serving
    GET  /v1/projects/{p}/locations/{l}/endpoints/{e}             the endpoint, as aiplatform.Endpoint reads it
    POST /v1/endpoints/{e}:predict, /v1/endpoints/{e}:rawPredict  the same without project and location
    POST /v1/models/{name}:predict, /v1/models/{name}/versions/{v}:predict   TF Serving's REST API
    GET  /v1/models/{name}                  TF Serving model status
    GET  /health                            liveness + which model is served
    GET  /metrics                           Prometheus text

Answers are TF Serving's (tensorflow_serving/util/json_tensor.cc) for the SavedModel's
signature outputs: row requests get {"predictions": [...]}, one value per instance when the
signature has one output, else one object per instance keyed by output name; columnar
`inputs` get {"outputs": ...}; floats are float32 values printed as TF Serving prints them.
Vertex's :predict adds deployedModelId, model, modelDisplayName and modelVersionId; its
:rawPredict returns the container's body unchanged. Errors are Vertex's {"error": {"code",
"message", "status"}} on Vertex :predict routes and TF Serving's {"error": "..."} on the
TF Serving and :rawPredict routes, 4xx for bad input naming the instance and field.

Predict routes are raw ASGI endpoints in the FastAPI route table: the body is read with a
size limit and a deadline (pipeline.serving.reading), parsed with orjson and validated
column-wise (pipeline.serving.instances, pipeline.serving.rows), so no per-request
pydantic, dependency or Request/Response machinery runs. Every answer carries
X-Request-Id; a 200 is sent only after its rows are committed to the prediction log. 415
unless Content-Type is application/json (so a web page cannot post a form to a local
server), 408 (and the connection closed) when the body is not complete within
serve.body_timeout_s. A client that goes away mid-body is counted as status 499 and left
out of the latency histogram.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path
from starlette.types import Receive, Scope, Send

from pipeline.monitoring.gauges import DriftGauges
from pipeline.serving import predlog
from pipeline.serving.answers import error_body, row_answer, tfserving_body
from pipeline.serving.batching import MicroBatcher, ScoredRow
from pipeline.serving.instances import ID_SIGNATURE, Parsed, RequestError, parse_request
from pipeline.serving.metrics import CONTENT_TYPE, ServerMetrics
from pipeline.serving.reading import JSON, REQUESTS_IN_PROGRESS, check_content_type, header, parse_json, read_body
from pipeline.serving.scorer import Outputs, Scorer
from pipeline.training import schema

log = logging.getLogger(__name__)

PROJECT_ENDPOINT = "/v1/projects/{project}/locations/{location}/endpoints/{endpoint}"
ENDPOINT_ROUTE = "/v1/endpoints/{endpoint}:predict"
MODEL_ROUTE = "/v1/models/{name}:predict"
@dataclass(frozen=True)
class RouteSpec:
    """One predict route: its template, which protocol it speaks and whether Vertex's
    model fields are added to the answer."""

    template: str
    protocol: str  # "vertex" or "tfserving" (see pipeline.serving.instances)
    vertex_fields: bool
    by_model: bool = False


PREDICT_ROUTES = (
    RouteSpec(PROJECT_ENDPOINT + ":predict", "vertex", True),
    RouteSpec(PROJECT_ENDPOINT + ":rawPredict", "tfserving", False),
    RouteSpec(ENDPOINT_ROUTE, "vertex", True),
    RouteSpec("/v1/endpoints/{endpoint}:rawPredict", "tfserving", False),
    RouteSpec(MODEL_ROUTE, "tfserving", False, by_model=True),
    RouteSpec("/v1/models/{name}/versions/{version}:predict", "tfserving", False, by_model=True),
)


@dataclass(frozen=True)
class ServeSettings:
    """What the app enforces, from config.serve (token from the environment)."""

    max_instances: int
    max_body_bytes: int
    model_names: frozenset[str]
    token: str | None = None
    batch_window_ms: float = 0.0
    monitoring_dir: Path | None = None  # newest drift check, exported as gauges
    body_timeout_s: float = 10.0
    project: str = "local"  # for model resource names on routes without a project
    location: str = "local"


class _ServingApp(FastAPI):
    """FastAPI with the predict routes dispatched before its middleware stack and router: a
    POST whose path matches one goes straight to its raw ASGI endpoint (the same one the
    route table holds, with the same path parameters); everything else, FastAPI as usual.
    This skips about five middleware and routing layers per predict request."""

    predict_routes: tuple[tuple[Any, dict[str, Any], _PredictRoute], ...] = ()
    _MATCHES_KEPT = 1024  # paths remembered with their match (clients use a handful)
    _matches: dict[str, tuple[_PredictRoute, dict[str, Any]] | None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path") \
                and not self.root_path:
            path = scope["path"]
            try:
                found = self._matches[path]
            except KeyError:
                found = self._match_predict(path)
            if found is not None:
                scope["path_params"] = dict(found[1])
                await found[0](scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _match_predict(self, path: str) -> tuple[_PredictRoute, dict[str, Any]] | None:
        """The predict endpoint and path parameters for `path`, remembered: matching the six
        templates and converting the parameters costs more than the rest of the dispatch."""
        found = None
        for pattern, convertors, endpoint in self.predict_routes:
            match = pattern.match(path)
            if match is not None:
                found = endpoint, {name: convertors[name].convert(value) for name, value in match.groupdict().items()}
                break
        if len(self._matches) >= self._MATCHES_KEPT:  # many distinct paths: start over, memory stays bounded
            self._matches.clear()
        self._matches[path] = found
        return found


def create_app(scorer: Scorer, prediction_log: predlog.PredictionLog, settings: ServeSettings) -> FastAPI:
    """The server application for one loaded model and one open prediction log."""
    app = _ServingApp(title="churn prediction server", version=scorer.version_id,
                  description="Vertex AI-compatible predict API for the churn model.", **_fastapi_options())
    metrics = ServerMetrics(scorer.name, scorer.version_id, scorer.engine)
    if settings.monitoring_dir is not None:
        metrics.registry.register(DriftGauges(settings.monitoring_dir))
    app.state.metrics = metrics
    predictor = _Predictor(scorer, prediction_log, settings, metrics)
    app.state.batcher = predictor.batcher
    # First in the route table: they are matched before the docs routes on every request.
    endpoints = [_PredictRoute(predictor, spec) for spec in PREDICT_ROUTES]
    app.router.routes[:0] = [Route(endpoint.spec.template, endpoint, methods=["POST"]) for endpoint in endpoints]
    compiled = [compile_path(endpoint.spec.template) for endpoint in endpoints]  # Starlette's own matching
    app._matches = {}
    app.predict_routes = tuple((pattern, convertors, endpoint)
                               for (pattern, _, convertors), endpoint in zip(compiled, endpoints, strict=True))

    @app.get(PROJECT_ENDPOINT)
    async def endpoint_resource(project: str, location: str, endpoint: str) -> Response:
        if ":" in endpoint:  # GET on a predict route lands here
            return _json(405, predictor.error_body(RequestError(405, "method_not_allowed", "predict takes POST"),
                                                   "vertex"))
        return _json(200, predictor.endpoint_resource(project, location, endpoint))

    @app.get("/health")
    async def health() -> Response:
        return _json(200, {"status": "ok", "model": scorer.name, "modelVersionId": scorer.version_id,
                           "engine": scorer.engine})

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> Response:
        if name.endswith(":predict"):  # GET on a predict route lands here
            return _json(405, predictor.error_body(RequestError(405, "method_not_allowed", "predict takes POST"),
                                                   "tfserving"))
        if name not in settings.model_names:
            return _json(404, predictor.error_body(_unknown_model(name), "tfserving"))
        return _json(200, {"model_version_status": [{"version": scorer.version_id, "state": "AVAILABLE",
                                                     "status": {"error_code": "OK", "error_message": ""}}]})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, predictor.error_body(RequestError(
            exc.status_code, code, f"{request.method} {request.url.path[:200]}: {exc.detail}"), "vertex"))

    return app


class _PredictRoute:
    """A raw ASGI endpoint: Starlette hands it scope/receive/send directly, so the hot path
    builds no Request or Response objects and passes no exception-wrapping layers."""

    def __init__(self, predictor: _Predictor, spec: RouteSpec) -> None:
        self.predictor = predictor
        self.spec = spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, headers = await self.predictor.answer(scope, receive, self.spec)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _LoggedScores(NamedTuple):
    """What the prediction log keeps per instance, from the signature's outputs (arrays, or
    lists of one value from a ScoredRow)."""

    probability: np.ndarray | list[float]
    lower: np.ndarray | list[float]
    upper: np.ndarray | list[float]
    churn: np.ndarray | list[bool]


def _logged_scores(scored: Outputs | ScoredRow) -> _LoggedScores:
    if isinstance(scored, ScoredRow):
        values = scored.values
        lower, upper = values["interval"]
        return _LoggedScores([values["churn_probability"]], [lower], [upper], [values["churn"]])
    interval = scored["interval"]
    return _LoggedScores(scored["churn_probability"], interval[:, 0], interval[:, 1], scored["churn"])


class _RequestIds:
    """Random 128-bit request ids (hex) from the OS's generator, drawn 256 at a time: one
    system call per 256 requests instead of one each."""

    BATCH = 256

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> str:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(16 * self.BATCH), 0
        start = self._at
        self._at = start + 16
        return self._pool[start:start + 16].hex()


class _Predictor:
    """Answers predict requests for one scorer, log and metrics."""

    def __init__(self, scorer: Scorer, prediction_log: predlog.PredictionLog, settings: ServeSettings,
                 metrics: ServerMetrics) -> None:
        self.scorer = scorer
        self.log = prediction_log
        self.settings = settings
        self.metrics = metrics
        self.batcher = MicroBatcher.for_scorer(scorer, settings.batch_window_ms)
        self.deployed_model_id = f"{scorer.name}-{scorer.version_id}"
        self.token = settings.token.encode() if settings.token else None
        self.request_ids = _RequestIds()
        self.in_flight = 0  # requests between arrival and answer: 1 means this one is alone

    def model_resource(self, project: str | None, location: str | None) -> str:
        return (f"projects/{project or self.settings.project}/locations/{location or self.settings.location}"
                f"/models/{self.scorer.name}")

    def endpoint_resource(self, project: str, location: str, endpoint: str) -> dict[str, Any]:
        """The Endpoint resource (the fields aiplatform.Endpoint reads) with this model deployed."""
        return {"name": f"projects/{project}/locations/{location}/endpoints/{endpoint}",
                "displayName": endpoint,
                "deployedModels": [{"id": self.deployed_model_id, "model": self.model_resource(project, location),
                                    "modelVersionId": self.scorer.version_id, "displayName": self.scorer.name}],
                "trafficSplit": {self.deployed_model_id: 100}}

    def error_body(self, exc: RequestError, protocol: str) -> dict[str, Any]:
        """Vertex's error document or TF Serving's, for the route's protocol."""
        return error_body(exc.status, exc.message, protocol)

    async def answer(self, scope: Scope, receive: Receive, spec: RouteSpec
                     ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """(status, JSON body, headers) for one predict request; never raises."""
        started = time.perf_counter()
        request_id = self.request_ids.next()
        extra: list[tuple[bytes, bytes]] = []
        self.in_flight += 1
        try:
            status, content = 200, await self._predict(scope, receive, request_id, spec, started)
        except RequestError as exc:
            status, content = exc.status, self.error_body(exc, spec.protocol)
            if exc.status == 401:
                extra.append((b"www-authenticate", b"Bearer"))
            elif exc.status == 408:  # the rest of the body may still come: the connection is unusable
                extra.append((b"connection", b"close"))
        except predlog.PredictionLogError as exc:
            log.error("request %s not answered: %s", request_id, exc)
            status, content = 503, self.error_body(RequestError(503, "log_unavailable", "the prediction could "
                                                                "not be logged; retry later"), spec.protocol)
        except Exception:
            log.exception("request %s failed", request_id)
            status, content = 500, self.error_body(RequestError(500, "internal", f"internal error (request id "
                                                                f"{request_id})"), spec.protocol)
        finally:
            self.in_flight -= 1
        body = orjson.dumps(content)
        self.metrics.observe(spec.template, status, time.perf_counter() - started)
        return status, body, [(b"content-type", b"application/json"),
                              (b"content-length", str(len(body)).encode()),
                              (b"x-request-id", request_id.encode()), *extra]

    async def _predict(self, scope: Scope, receive: Receive, request_id: str, spec: RouteSpec,
                       started: float) -> dict[str, Any]:
        self._check_token(scope)
        params = scope["path_params"]
        name = params["name"] if spec.by_model else params["endpoint"]
        if spec.by_model and name not in self.settings.model_names:
            raise _unknown_model(name)
        version = params.get("version")
        if version is not None and version != self.scorer.version_id:
            raise RequestError(404, "unknown_version", f"Servable not found for request: Specific({name[:60]}, "
                               f"{version[:20]}); this server serves version {self.scorer.version_id}",
                               field="version")
        check_content_type(scope)
        payload = parse_json(await read_body(scope, receive, self.settings.max_body_bytes,
                                               self.settings.body_timeout_s), spec.protocol)
        parsed = parse_request(payload, spec.protocol, self.settings.max_instances)
        if parsed.unusual:
            self.metrics.observe_unusual(parsed.unusual)
        scored = await self._scored(parsed, self._alone(scope))
        latency_ms = (time.perf_counter() - started) * 1000.0
        scores = _logged_scores(scored)
        charges = parsed.batch.numeric[:, 3] if parsed.logged_rows is None else ()  # only read without rows
        await self.log.append(predlog.request_record(
            request_id, predlog.utc_timestamp(), self.scorer.version_id, name, latency_ms, parsed.instances,
            charges, parsed.batch.customer_ids, scores, parsed.logged_rows), alone=self._alone(scope))
        self.metrics.observe_predictions(scores.probability)
        answer = row_answer(scored.values) if isinstance(scored, ScoredRow) else tfserving_body(scored, parsed.columnar)
        if spec.vertex_fields:
            answer.update(deployedModelId=self.deployed_model_id,
                          model=self.model_resource(params.get("project"), params.get("location")),
                          modelDisplayName=self.scorer.name, modelVersionId=self.scorer.version_id)
        return answer

    def _alone(self, scope: Scope) -> bool:
        """No other request in progress: none to share a model call or a commit with. The
        HTTP layer's set also holds requests whose task has not run yet."""
        in_progress = scope.get(REQUESTS_IN_PROGRESS)
        return self.in_flight == 1 and (in_progress is None or len(in_progress) <= 1)

    async def _scored(self, parsed: Parsed, alone: bool) -> Outputs | ScoredRow:
        """The request's outputs (a ScoredRow for a row request that shared its model call),
        with customerID added last for the ID signature, as the SavedModel's signature does."""
        scored = await self.batcher.score(parsed.batch, alone=alone)
        if isinstance(scored, ScoredRow) and parsed.columnar:
            scored = scored.outputs()
        if parsed.signature != ID_SIGNATURE:
            return scored
        if isinstance(scored, ScoredRow):
            return scored._replace(values={**scored.values, schema.ID_COLUMN: parsed.batch.customer_ids[0]})
        return {**scored, schema.ID_COLUMN: np.array(parsed.batch.customer_ids, dtype=object)}

    def _check_token(self, scope: Scope) -> None:
        if self.token is None:
            return
        scheme, _, given = (header(scope, b"authorization") or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            raise RequestError(401, "unauthorized", "missing or wrong bearer token "
                               "(send Authorization: Bearer <token>)")


def _unknown_model(name: str) -> RequestError:
    return RequestError(404, "unknown_model", f"model {name!r} is not served here", field="name")


def _fastapi_options() -> dict[str, Any]:
    # FastAPI >= 0.16x checks for OpenTelemetry providers on every request; this server
    # reports through Prometheus, so switch that off where the option exists.
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _json(status: int, content: Any) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON)
