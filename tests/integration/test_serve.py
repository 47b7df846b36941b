"""The prediction server in-process: Vertex protocol, validation, auth, limits, metrics,
prediction log, the NumPy fast path against the SavedModel, and never a 500 for bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from pipeline.serving import predlog
from pipeline.serving import scorer as scorer_module
from pipeline.serving.app import ServeSettings, create_app
from pipeline.serving.instances import EXAMPLE_INSTANCE, encode_frame, raw_features, validate_payload
from pipeline.serving.predlog import PredictionLog
from pipeline.serving.scorer import Scorer, load_scorer
from pipeline.training import data, export, schema

MODEL_ROUTE = "/v1/models/churn:predict"
ENDPOINT_ROUTE = "/v1/endpoints/churn-endpoint:predict"
TOKEN = "t0ps3cret-token"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def scorer(trained_run: Path, small_config) -> Scorer:
    return load_scorer(small_config, str(trained_run))


@pytest.fixture(scope="module")
def instances(small_csv: Path) -> list[dict[str, Any]]:
    """Ten real rows as JSON instances (numbers as JSON numbers, a blank TotalCharges as 0)."""
    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False).head(10)
    records = frame.drop(columns=["customerID", "Churn"]).to_dict("records")
    for record in records:
        record.update(SeniorCitizen=int(record["SeniorCitizen"]), tenure=int(record["tenure"]),
                      MonthlyCharges=float(record["MonthlyCharges"]),
                      TotalCharges=float(record["TotalCharges"].strip() or 0))
    return records


def make_client(scorer: Scorer, log_path: Path, token: str | None = None, **limits: float) -> TestClient:
    log = PredictionLog(log_path).open()
    settings = ServeSettings(max_instances=int(limits.get("max_instances", 50)),
                             max_body_bytes=int(limits.get("max_body_bytes", 50_000)),
                             model_names=frozenset({"churn"}), token=token,
                             body_timeout_s=limits.get("body_timeout_s", 10.0))
    client = TestClient(create_app(scorer, log, settings), raise_server_exceptions=False)
    client.prediction_log = log  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(scorer: Scorer, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(scorer, tmp_path / "log.sqlite") as test_client:
        yield test_client
    test_client.prediction_log.close()


def logged(client: TestClient) -> pd.DataFrame:
    path = client.prediction_log.path
    return pd.concat(predlog.iter_log_frames(path), ignore_index=True)


@pytest.mark.parametrize("route", [MODEL_ROUTE, ENDPOINT_ROUTE])
def test_predict_routes_speak_the_vertex_protocol(client: TestClient, scorer: Scorer, route: str,
                                                  instances: list[dict]) -> None:
    answer = client.post(route, json={"instances": instances[:3], "parameters": {}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if route == ENDPOINT_ROUTE:  # Vertex adds the model's fields; TF Serving does not
        assert body["deployedModelId"] and body["modelVersionId"] == scorer.version_id
        assert body["model"] == "projects/local/locations/local/models/churn" and body["modelDisplayName"]
    else:
        assert set(body) == {"predictions"}
    assert len(body["predictions"]) == 3
    for prediction in body["predictions"]:
        assert set(prediction) == {"churn_probability", "raw_probability", "interval", "churn"}
        lower, upper = prediction["interval"]
        assert 0 <= lower <= upper <= 1 and 0 <= prediction["churn_probability"] <= 1
        assert prediction["churn"] == (prediction["churn_probability"] >= scorer.threshold)
    rows = logged(client)
    request_id = answer.headers["x-request-id"]
    assert rows["request_id"].tolist() == [request_id] * 3
    assert rows["endpoint"].iloc[0] == route.split("/")[3].split(":")[0]
    # float32 values: the answer prints them as TF Serving does, the log keeps them exactly
    assert np.float32(rows["churn_probability"]).tolist() == np.float32(
        [p["churn_probability"] for p in body["predictions"]]).tolist()
    assert rows["tenure"].tolist() == [i["tenure"] for i in instances[:3]]
    assert (rows["latency_ms"] > 0).all()


def test_fast_path_equals_the_saved_model(scorer: Scorer, trained_run: Path, small_csv: Path) -> None:
    assert scorer.engine == "numpy" and scorer.max_verify_diff <= 1e-5
    frame = next(data.iter_batches(small_csv, require_label=False, batch_rows=500))
    signature = export.load_signature(trained_run / "model")
    reference = export.signature_predict(signature, data.features_of(frame))
    ours = scorer.score(encode_frame(frame)).probability
    assert np.max(np.abs(ours - reference)) < 1e-5


def test_fast_path_mismatch_falls_back_to_the_saved_model(trained_run: Path, small_config, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(scorer_module, "MATCH_TOLERANCE", -1.0)  # nothing can match
    with caplog.at_level(logging.WARNING, logger="pipeline.serving.scorer"):  # --verify checks again
        fallback = load_scorer(small_config, str(trained_run), verify=True)
    assert fallback.engine == "savedmodel"
    assert "differs from the SavedModel" in caplog.text
    answer = fallback.score(encode_frame(pd.DataFrame([EXAMPLE_INSTANCE])))
    assert 0 <= answer.probability[0] <= 1
    with make_client(fallback, tmp_path / "log.sqlite") as client:  # micro-batched on a thread
        served = client.post(MODEL_ROUTE, json={"instances": [EXAMPLE_INSTANCE] * 2})
        assert client.get("/health").json()["engine"] == "savedmodel"
    client.app.state.batcher.close()
    client.prediction_log.close()
    assert served.status_code == 200
    assert served.json()["predictions"][0]["churn_probability"] == pytest.approx(answer.probability[0], abs=1e-6)


def body_of(instance_changes: dict | None = None, drop: str | None = None, count: int = 1) -> bytes:
    instance = {k: v for k, v in {**EXAMPLE_INSTANCE, **(instance_changes or {})}.items() if k != drop}
    return json.dumps({"instances": [instance] * count}).encode()


@pytest.mark.parametrize("body, status, code, field", [
    (b"{not json", 400, "invalid_json", None),
    (b"", 400, "invalid_json", None),
    (b'{"instances": [{"tenure": NaN}]}', 400, "invalid_json", None),
    (b'{"instances": []}', 400, "empty_instances", "instances"),
    (b'[1, 2]', 400, "invalid_body", None),
    (body_of({"tenure": "abc"}), 400, "wrong_type", "tenure"),
    (body_of(drop="gender"), 400, "missing_feature", "gender"),
    (body_of({"favourite_colour": "blue"}), 400, "unknown_feature", "favourite_colour"),
    (body_of(count=51), 413, "too_many_instances", "instances"),
    (b" " * 60_000, 413, "body_too_large", None),
])
def test_bad_requests_are_4xx_with_a_json_error(client: TestClient, body: bytes, status: int, code: str,
                                                 field: str | None) -> None:
    for route in (MODEL_ROUTE, ENDPOINT_ROUTE):
        answer = client.post(route, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == status, answer.text
        message = error_message(answer)
        assert message and answer.headers["x-request-id"]
        if field is not None:
            assert field in message, message
        if field in schema.FEATURES or code == "unknown_feature":
            assert "instances[0]" in message, message
    assert not client.prediction_log.path.exists() or logged_count(client) == 0


def error_message(answer: Any) -> str:
    """The message of TF Serving's {"error": "..."} or Vertex's {"error": {"code", "message", "status"}}."""
    error = answer.json()["error"]
    if isinstance(error, str):
        return error
    assert error["code"] == answer.status_code and error["status"], error
    return error["message"]


def logged_count(client: TestClient) -> int:
    try:
        return sum(len(f) for f in predlog.iter_log_frames(client.prediction_log.path))
    except predlog.PredictionLogError:
        return 0


def test_streamed_body_over_the_limit_is_refused_without_content_length(client: TestClient) -> None:
    chunks = iter([b"[" + b" " * 20_000] * 4)  # chunked transfer: no Content-Length to trust
    answer = client.post(MODEL_ROUTE, content=chunks, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and bool(error_message(answer))


def test_bearer_token(scorer: Scorer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = {"instances": [EXAMPLE_INSTANCE]}
    with caplog.at_level(logging.DEBUG), make_client(scorer, tmp_path / "log.sqlite", token=TOKEN) as client:
        missing = client.post(MODEL_ROUTE, json=body)
        wrong = client.post(MODEL_ROUTE, json=body, headers={"Authorization": "Bearer nope"})
        basic = client.post(MODEL_ROUTE, json=body, headers={"Authorization": f"Basic {TOKEN}"})
        right = client.post(ENDPOINT_ROUTE, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        open_routes = [client.get(path).status_code for path in ("/health", "/metrics", "/v1/models/churn")]
    client.prediction_log.close()
    for refused in (missing, wrong, basic):
        assert refused.status_code == 401 and bool(error_message(refused))
        assert refused.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200 and open_routes == [200, 200, 200]
    assert TOKEN not in caplog.text


def test_unknown_model_routes_and_methods(client: TestClient) -> None:
    body = {"instances": [EXAMPLE_INSTANCE]}
    unknown = client.post("/v1/models/other:predict", json=body)
    assert unknown.status_code == 404 and "other" in error_message(unknown)
    assert client.get("/v1/models/other").status_code == 404
    assert client.get(MODEL_ROUTE).status_code == 405
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and bool(error_message(missing))


def test_health_status_and_metrics(client: TestClient, scorer: Scorer) -> None:
    assert client.get("/health").json() == {"status": "ok", "model": "churn", "engine": "numpy",
                                            "modelVersionId": scorer.version_id}
    status = client.get("/v1/models/churn").json()["model_version_status"][0]
    assert status["state"] == "AVAILABLE" and status["version"] == scorer.version_id
    client.post(MODEL_ROUTE, json={"instances": [EXAMPLE_INSTANCE] * 4})
    client.post(MODEL_ROUTE, json={"instances": []})
    text = client.get("/metrics").text
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="200"} 1.0' in text
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="400"} 1.0' in text
    assert 'churn_request_latency_seconds_bucket{le="+Inf",route="/v1/models/{name}:predict"} 2.0' in text
    assert "churn_request_instances_sum 4.0" in text and "churn_prediction_score_count 4.0" in text
    assert f'churn_model_info{{engine="numpy",name="churn",version="{scorer.version_id}"}} 1.0' in text


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
def test_predict_needs_a_json_content_type(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post(MODEL_ROUTE, content=body_of(), headers=headers)
    assert answer.status_code == 415, answer.text
    assert bool(error_message(answer)) and logged_count(client) == 0
    accepted = client.post(MODEL_ROUTE, content=body_of(), headers={"content-type": "Application/JSON; charset=utf-8"})
    assert accepted.status_code == 200


def asgi_post(app: Any, chunks: list[bytes], then: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """POST `chunks` (declaring more) straight to the ASGI app, then hang or disconnect."""
    sent: list[dict] = []

    async def run() -> None:
        messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            if then == "disconnect":
                return {"type": "http.disconnect"}
            await asyncio.sleep(60)  # a client that stopped sending
            raise AssertionError("the body deadline did not fire")

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": MODEL_ROUTE, "raw_path": MODEL_ROUTE.encode(), "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
                 "headers": [(b"content-type", b"application/json"), (b"content-length", b"5000")]}
        await asyncio.wait_for(app(scope, receive, send), timeout=20)

    asyncio.run(run())
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_a_body_that_stops_arriving_gets_408_and_a_close(scorer: Scorer, tmp_path: Path) -> None:
    with make_client(scorer, tmp_path / "log.sqlite", body_timeout_s=0.3) as client:
        started = time.monotonic()
        status, headers, body = asgi_post(client.app, [body_of()[:20]], then="hang")
        waited = time.monotonic() - started
        text = client.get("/metrics").text
    client.prediction_log.close()
    assert status == 408 and headers[b"connection"] == b"close" and 0.25 < waited < 5
    assert "did not arrive" in json.loads(body)["error"]
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="408"} 1.0' in text
    assert 'churn_request_latency_seconds_count{route="/v1/models/{name}:predict"} 0.0' in text


def test_a_client_gone_mid_body_is_a_499_outside_the_latency_histogram(client: TestClient) -> None:
    status, _, _ = asgi_post(client.app, [body_of()[:20]], then="disconnect")
    client.post(MODEL_ROUTE, json={"instances": [EXAMPLE_INSTANCE]})
    text = client.get("/metrics").text
    assert status == 499
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="499"} 1.0' in text
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="400"}' not in text
    assert 'churn_request_latency_seconds_count{route="/v1/models/{name}:predict"} 1.0' in text


def test_a_failed_log_write_is_a_503_not_a_200(client: TestClient) -> None:
    client.prediction_log.close()  # every commit now fails
    answer = client.post(MODEL_ROUTE, json={"instances": [EXAMPLE_INSTANCE]})
    assert answer.status_code == 503 and bool(error_message(answer))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid body with one instance broken in one way: a changed, dropped or added key."""
    instance = dict(EXAMPLE_INSTANCE)
    feature = draw(st.sampled_from(schema.FEATURES))
    how = draw(st.sampled_from(["replace", "drop", "add"]))
    if how == "replace":
        instance[feature] = draw(JSON_VALUES)
    elif how == "drop":
        del instance[feature]
    else:
        instance[draw(st.text(max_size=20))] = draw(JSON_VALUES)
    count = draw(st.integers(min_value=1, max_value=3))
    others = [dict(EXAMPLE_INSTANCE)] * (count - 1)
    return {"instances": [*others, instance], **draw(st.sampled_from([{}, {"parameters": {}},
                                                                      {"parameters": None}]))}


def check_never_500(client: TestClient, body: bytes) -> None:
    answer = client.post(MODEL_ROUTE, content=body, headers={"content-type": "application/json"})
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert isinstance(answer.json()["error"], str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=JSON_VALUES | st.fixed_dictionaries({"instances": st.lists(JSON_VALUES, max_size=3)}))
def test_random_json_is_never_a_500(client: TestClient, payload: Any) -> None:
    check_never_500(client, json.dumps(payload).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=mutated_bodies())
def test_mutated_instances_are_never_a_500(client: TestClient, payload: Any) -> None:
    check_never_500(client, json.dumps(payload).encode())


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_random_bytes_are_never_a_500(client: TestClient, body: bytes) -> None:
    check_never_500(client, body)


def unusual_count(client: TestClient, kind: str, feature: str) -> float:
    line = f'churn_unusual_inputs_total{{feature="{feature}",kind="{kind}"}} '
    found = [row for row in client.get("/metrics").text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_out_of_range_values_are_scored_and_counted(client: TestClient) -> None:
    # TF Serving scores a float it is given; this server does too and counts it for /metrics.
    answer = client.post(ENDPOINT_ROUTE, json={"instances": [dict(EXAMPLE_INSTANCE, tenure=100), EXAMPLE_INSTANCE]})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
    assert unusual_count(client, "out_of_range", "tenure") == 1
    assert logged(client)["tenure"].tolist()[-2:] == [100.0, 1.0]


def test_unknown_categories_are_scored_by_both_engines_like_tf_serving(
        trained_run: Path, small_config, tmp_path: Path, client: TestClient) -> None:
    weekly = {"instances": [dict(EXAMPLE_INSTANCE, Contract="Weekly")]}
    savedmodel = load_scorer(small_config, str(trained_run), engine="savedmodel")
    batch, _ = validate_payload(weekly, 10)
    reference = export.signature_predict(export.load_signature(trained_run / "model"), raw_features(batch))
    with make_client(savedmodel, tmp_path / "log.sqlite") as scored:
        answer = scored.post(ENDPOINT_ROUTE, json=weekly)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["churn_probability"] == pytest.approx(float(reference[0]), abs=1e-6)
        assert unusual_count(scored, "unknown_category", "Contract") == 1
        assert logged(scored)["Contract"].tolist() == ["Weekly"]  # logged as sent
    scored.app.state.batcher.close()
    scored.prediction_log.close()
    # The NumPy engine uses the same out-of-vocabulary weights: the same answer, counted too.
    fast = client.post(ENDPOINT_ROUTE, json=weekly)
    assert fast.status_code == 200, fast.text
    assert fast.json()["predictions"][0]["churn_probability"] == pytest.approx(float(reference[0]), abs=1e-6)
    assert unusual_count(client, "unknown_category", "Contract") >= 1


def test_tf_serving_version_route_serves_only_the_loaded_version(client: TestClient, scorer: Scorer) -> None:
    body = {"instances": [EXAMPLE_INSTANCE]}
    served = client.post(f"/v1/models/churn/versions/{scorer.version_id}:predict", json=body)
    assert served.status_code == 200 and set(served.json()) == {"predictions"}
    other = client.post("/v1/models/churn/versions/999:predict", json=body)
    assert other.status_code == 404 and "999" in error_message(other)


def test_columnar_inputs_and_signature_name_on_the_tf_serving_route(client: TestClient) -> None:
    inputs = {name: [value] for name, value in EXAMPLE_INSTANCE.items()}
    answer = client.post(MODEL_ROUTE, json={"signature_name": "serving_default", "inputs": inputs})
    assert answer.status_code == 200 and set(answer.json()) == {"outputs"}
    outputs = answer.json()["outputs"]
    assert list(outputs) == ["churn_probability", "raw_probability", "interval", "churn"]
    assert len(outputs["interval"][0]) == 2
    with_id = client.post(MODEL_ROUTE, json={"signature_name": "with_customer_id",
                                             "inputs": {**inputs, "customerID": ["7590-VHVEG"]}})
    assert with_id.json()["outputs"]["customerID"] == ["7590-VHVEG"]
    assert logged(client)["customerID"].tolist()[-1] == "7590-VHVEG"
