"""Requests that share a model call get the answers and log rows they get alone, byte for
byte: one-instance requests through ScoredRows, mixed groups through per-request slices."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.serving import batching
from pipeline.serving.app import ServeSettings, create_app
from pipeline.serving.instances import EXAMPLE_INSTANCE
from pipeline.serving.predlog import PredictionLog
from pipeline.serving.scorer import load_scorer

MODEL_ROUTE = "/v1/models/churn:predict"
ENDPOINT_ROUTE = "/v1/endpoints/churn-endpoint:predict"
pytestmark = pytest.mark.timeout(300)


def instance(tenure: int, **changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_INSTANCE, "tenure": tenure, "TotalCharges": 29.85 * tenure, **changes}


ONE_INSTANCE_REQUESTS = [
    (MODEL_ROUTE, {"instances": [instance(1)]}),
    (ENDPOINT_ROUTE, {"instances": [instance(20, Contract="Two year")]}),
    (MODEL_ROUTE, {"signature_name": "with_customer_id", "instances": [instance(5, customerID="7590-VHVEG")]}),
    (MODEL_ROUTE, {"inputs": {name: [value] for name, value in instance(40).items()}}),  # columnar
    (MODEL_ROUTE, {"instances": [instance(70, MonthlyCharges=-5.0)]}),  # out of range: scored all the same
    (ENDPOINT_ROUTE, {"instances": [instance(3, PaymentMethod="Bitcoin")]}),  # unknown category
]
MIXED_REQUESTS = [*ONE_INSTANCE_REQUESTS[:3], (MODEL_ROUTE, {"instances": [instance(t) for t in (2, 30, 60)]})]


async def post(app: Any, route: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    body = orjson.dumps(payload)
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)  # a body that is not there yet: every request is in flight at once
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": route, "raw_path": route.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def logged_instances(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT endpoint, instances FROM requests ORDER BY id").fetchall()
    return sorted(rows)


@pytest.mark.parametrize("requests", [ONE_INSTANCE_REQUESTS, MIXED_REQUESTS], ids=["one-instance", "mixed"])
def test_batched_requests_answer_and_log_as_alone(trained_run: Path, small_config, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, requests: list) -> None:
    scorer = load_scorer(small_config, str(trained_run), engine="numpy")
    calls: list[int] = []
    score_all = batching._score_all

    def counted(scorer_: Any, batches: list) -> Any:
        calls.append(len(batches))
        return score_all(scorer_, batches)

    monkeypatch.setattr(batching, "_score_all", counted)
    settings = ServeSettings(max_instances=50, max_body_bytes=50_000, model_names=frozenset({"churn"}))
    answers: dict[str, list[tuple[int, bytes]]] = {}
    for mode in ("alone", "together"):
        log = PredictionLog(tmp_path / f"{mode}.sqlite").open()
        app = create_app(scorer, log, settings)

        async def run(app: Any = app, mode: str = mode) -> list[tuple[int, bytes]]:
            if mode == "alone":
                return [await post(app, route, payload) for route, payload in requests]
            return list(await asyncio.gather(*(post(app, route, payload) for route, payload in requests)))

        try:
            answers[mode] = asyncio.run(run())
        finally:
            log.close()
    assert calls == [len(requests)]  # alone: scored in the caller's turn; together: one shared call
    assert all(status == 200 for status, _ in answers["alone"])
    assert answers["together"] == answers["alone"]
    assert logged_instances(tmp_path / "together.sqlite") == logged_instances(tmp_path / "alone.sqlite")
