"""Google's own SDK against a real local server: aiplatform_v1.PredictionServiceClient (REST,
anonymous credentials) and aiplatform.Endpoint(...).predict, with api_endpoint on 127.0.0.1.
Also what the answers hold: every signature output per instance, as TF Serving writes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from pipeline.serving.app import ServeSettings, create_app
from pipeline.serving.instances import EXAMPLE_INSTANCE
from pipeline.serving.predlog import PredictionLog, iter_log_frames
from pipeline.serving.scorer import Scorer, load_scorer
from tests.integration.test_serve_prometheus import live_server

pytestmark = pytest.mark.timeout(180)
PROJECT, LOCATION, ENDPOINT = "demo-project", "us-central1", "1234567890"
ENDPOINT_NAME = f"projects/{PROJECT}/locations/{LOCATION}/endpoints/{ENDPOINT}"
SECOND = dict(EXAMPLE_INSTANCE, tenure=40, Contract="Two year", TotalCharges=1200.5)


@pytest.fixture(scope="module")
def scorer(trained_run: Path, small_config) -> Scorer:
    return load_scorer(small_config, str(trained_run))


@pytest.fixture()
def served(scorer: Scorer, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    settings = ServeSettings(max_instances=50, max_body_bytes=100_000, model_names=frozenset({"churn"}))
    app = create_app(scorer, log, settings)
    try:
        with live_server(app) as port:
            yield port, log.path
    finally:
        app.state.batcher.close()
        log.close()


def check_predictions(predictions: list, count: int) -> None:
    """The contract check's assertions, on answers of a signature with several outputs."""
    assert len(predictions) == count
    for prediction in predictions:
        assert set(prediction) == {"churn_probability", "raw_probability", "interval", "churn"}
        assert 0 <= prediction["churn_probability"] <= 1 and len(prediction["interval"]) == 2
        assert isinstance(prediction["churn"], bool)


def test_prediction_service_client_over_rest(served: tuple[int, Path], scorer: Scorer) -> None:
    from google.cloud import aiplatform_v1

    port, log_path = served
    client = aiplatform_v1.PredictionServiceClient(
        transport="rest", client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
        credentials=AnonymousCredentials())
    answer = client.predict(endpoint=ENDPOINT_NAME, instances=[EXAMPLE_INSTANCE, SECOND])
    check_predictions([dict(p) for p in answer.predictions], 2)
    assert answer.deployed_model_id == f"churn-{scorer.version_id}"
    assert answer.model == f"projects/{PROJECT}/locations/{LOCATION}/models/churn"
    assert answer.model_version_id == scorer.version_id and answer.model_display_name == "churn"
    logged = next(iter_log_frames(log_path))
    assert logged["endpoint"].tolist() == [ENDPOINT] * 2


def post(port: int, route: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{route}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_raw_predict_passes_the_body_to_tf_serving(served: tuple[int, Path]) -> None:
    # What aiplatform.Endpoint.raw_predict and curl send: the container's own JSON, unchanged
    # (the gapic REST client wraps it in {"httpBody": ...}, which is not what Vertex forwards).
    port, log_path = served
    body = {"signature_name": "with_customer_id", "instances": [dict(EXAMPLE_INSTANCE, customerID="7590-VHVEG")]}
    status, answer = post(port, f"/v1/{ENDPOINT_NAME}:rawPredict", body)
    assert status == 200 and set(answer) == {"predictions"}
    assert answer["predictions"][0]["customerID"] == "7590-VHVEG" and len(answer["predictions"][0]["interval"]) == 2
    assert next(iter_log_frames(log_path))["customerID"].tolist() == ["7590-VHVEG"]
    columnar = {"inputs": {name: [value, value] for name, value in EXAMPLE_INSTANCE.items()}}
    status, answer = post(port, f"/v1/{ENDPOINT_NAME}:rawPredict", columnar)
    assert status == 200 and set(answer["outputs"]) == {"churn_probability", "raw_probability", "interval", "churn"}
    assert len(answer["outputs"]["interval"]) == 2 and len(answer["outputs"]["interval"][0]) == 2
    status, answer = post(port, f"/v1/{ENDPOINT_NAME}:rawPredict", {"instances": [dict(EXAMPLE_INSTANCE, tenure="1")]})
    assert status == 400 and "instances[0].tenure" in answer["error"]


def test_vertex_predict_refuses_what_vertex_refuses(served: tuple[int, Path]) -> None:
    port, _ = served
    for body, field in [({"instances": [dict(EXAMPLE_INSTANCE, customerID="x")]}, "customerID"),
                        ({"instances": [EXAMPLE_INSTANCE], "signature_name": "with_customer_id"}, "signature_name")]:
        status, answer = post(port, f"/v1/{ENDPOINT_NAME}:predict", body)
        assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT", answer
        assert field in answer["error"]["message"]


def test_aiplatform_endpoint_predict(served: tuple[int, Path], scorer: Scorer) -> None:
    from google.cloud import aiplatform

    port, _ = served
    aiplatform.init(project=PROJECT, location=LOCATION, api_endpoint=f"http://127.0.0.1:{port}",
                    api_transport="rest", credentials=AnonymousCredentials())
    endpoint = aiplatform.Endpoint(ENDPOINT_NAME)
    prediction = endpoint.predict(instances=[EXAMPLE_INSTANCE, SECOND])
    check_predictions(prediction.predictions, 2)
    assert prediction.deployed_model_id == f"churn-{scorer.version_id}"
    assert prediction.model_version_id == scorer.version_id


def test_sdk_errors_name_the_instance_and_field(served: tuple[int, Path]) -> None:
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1

    port, _ = served
    client = aiplatform_v1.PredictionServiceClient(
        transport="rest", client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
        credentials=AnonymousCredentials())
    with pytest.raises(exceptions.BadRequest, match=r"instances\[1\]\.tenure"):
        client.predict(endpoint=ENDPOINT_NAME, instances=[EXAMPLE_INSTANCE, dict(SECOND, tenure="abc")])


def test_the_deploy_snippet_runs_unchanged(served: tuple[int, Path], capsys: pytest.CaptureFixture) -> None:
    from pipeline.backends.local import sdk_snippet

    port, log_path = served
    exec(compile(sdk_snippet(f"http://127.0.0.1:{port}", "churn-endpoint"), "snippet", "exec"), {})
    printed = capsys.readouterr().out
    assert "churn_probability" in printed and "interval" in printed
    assert next(iter_log_frames(log_path))["endpoint"].tolist() == ["churn-endpoint"]
