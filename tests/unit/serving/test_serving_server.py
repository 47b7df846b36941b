"""Server pieces that need no model: exposure checks, metrics, scoring arithmetic."""

from __future__ import annotations

import logging
import socket
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from pipeline.config import EvaluateConfig, load_config
from pipeline.errors import ServingError
from pipeline.serving import server
from pipeline.serving.metrics import SCORE_BUCKETS, LoopCounter, LoopHistogram, ServerMetrics
from pipeline.serving.scorer import Scorer, interval_table, sample_batch
from pipeline.serving.server import bind_socket, check_exposure, is_loopback
from pipeline.training import schema
from pipeline.training.intervals import intervals_for


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposed_host_needs_a_token_or_an_explicit_opt_out() -> None:
    with pytest.raises(ServingError, match="refusing to serve on 0.0.0.0 without authentication.*"
                                           "CHURN_API_TOKEN.*--allow-unauthenticated"):
        check_exposure("0.0.0.0", None, False, "CHURN_API_TOKEN")
    assert check_exposure("0.0.0.0", "s3cret", False, "CHURN_API_TOKEN") is None
    assert check_exposure("127.0.0.1", None, False, "CHURN_API_TOKEN") is None
    assert check_exposure("127.0.0.1", None, True, "CHURN_API_TOKEN") is None
    warning = check_exposure("0.0.0.0", None, True, "CHURN_API_TOKEN")
    assert warning and "\n" not in warning and "without authentication" in warning and "CHURN_API_TOKEN" in warning


def test_serve_warns_before_serving_an_exposed_host_unauthenticated(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_at_bind(host: str, port: int) -> socket.socket:
        raise ServingError("stopped before binding")

    monkeypatch.setattr(server, "bind_socket", stop_at_bind)
    monkeypatch.delenv("CHURN_API_TOKEN", raising=False)
    lines: list[str] = []
    options = server.ServeOptions(ref="churn@champion", host="0.0.0.0", port=8080, allow_unauthenticated=True)
    with pytest.raises(ServingError, match="stopped before binding"):
        server.serve(load_config(None, [], environ={}), options, announce=lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: serving 0.0.0.0 without authentication")


def test_access_log_prints_lines_on_stderr() -> None:
    config = server.uvicorn_config(object(), access_log=True)
    access = logging.getLogger("uvicorn.access")
    assert config.access_log and access.isEnabledFor(logging.INFO)
    assert config.log_config["handlers"]["access"]["stream"] == "ext://sys.stderr"
    server.uvicorn_config(object(), access_log=False)
    assert not access.isEnabledFor(logging.INFO)


def test_connection_limits_come_from_the_config() -> None:
    serve = load_config(None, ["serve.limit_concurrency=7", "serve.header_timeout_s=2.5",
                               "serve.max_header_bytes=4096"], environ={}).serve
    limits = server.connection_limits(serve)
    assert (limits.limit_concurrency, limits.header_timeout_s, limits.max_header_bytes) == (7, 2.5, 4096)
    assert server.connection_limits(serve, limit_concurrency=3).limit_concurrency == 3
    config = server.uvicorn_config(object(), limits)
    assert config.timeout_keep_alive == serve.keep_alive_timeout_s
    assert config.h11_max_incomplete_event_size == 4096 and config.ws == "none"


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServingError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            bind_socket("127.0.0.1", port).close()


def test_loop_histogram_matches_prometheus_histogram() -> None:
    values = np.concatenate([np.random.default_rng(0).random(500), SCORE_BUCKETS, [0.0]])
    ours = LoopHistogram("score", "doc", SCORE_BUCKETS)
    ours.observe_many(values[:3])  # the small-batch path
    ours.observe_many(values[3:])  # the NumPy path
    registry = CollectorRegistry()
    reference = Histogram("score", "doc", buckets=SCORE_BUCKETS, registry=registry)
    for value in values:
        reference.observe(value)
    def samples(collector) -> dict:  # noqa: ANN001
        return {(s.name, s.labels.get("le")): s.value for s in next(iter(collector.collect())).samples
                if not s.name.endswith("_created")}

    assert samples(ours) == pytest.approx(samples(registry))


def test_loop_counter_matches_prometheus_counter() -> None:
    ours = LoopCounter("churn_requests", "doc", ("route", "status"))
    registry = CollectorRegistry()
    reference = Counter("churn_requests", "doc", ["route", "status"], registry=registry)
    for route, status, times in (("/a", "200", 3), ("/a", "400", 1), ("/b", "200", 2)):
        for _ in range(times):
            ours.labels(route, status)[0] += 1
            reference.labels(route, status).inc()
    with pytest.raises(ValueError, match="expected labels"):
        ours.labels("/a")

    def samples(collector) -> dict:  # noqa: ANN001
        return {(s.name, tuple(sorted(s.labels.items()))): s.value if not s.name.endswith("_created") else "created"
                for s in next(iter(collector.collect())).samples}

    assert samples(ours) == samples(registry)
    created = [s.value for s in next(iter(ours.collect())).samples if s.name.endswith("_created")]
    assert len(created) == 3 and all(abs(value - time.time()) < 60 for value in created)


def test_server_metrics_exposition() -> None:
    metrics = ServerMetrics("churn", "3", "numpy")
    metrics.observe("/v1/models/{name}:predict", 200, 0.0004)
    metrics.observe("/v1/models/{name}:predict", 200, 0.0006)
    metrics.observe("/v1/models/{name}:predict", 400, 0.0001)
    metrics.observe("/v1/models/{name}:predict", 499, 600.0)  # a client that left mid-body
    metrics.observe("/v1/models/{name}:predict", 408, 10.0)  # a body that never came
    metrics.observe_refused("header_timeout")
    metrics.observe_predictions(np.array([0.1, 0.9]))
    text = metrics.render().decode()
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="499"} 1.0' in text
    assert 'churn_request_latency_seconds_count{route="/v1/models/{name}:predict"} 3.0' in text
    assert 'churn_connections_refused_total{reason="header_timeout"} 1.0' in text
    assert 'churn_requests_total{route="/v1/models/{name}:predict",status="200"} 2.0' in text
    assert 'churn_request_latency_seconds_bucket{le="0.0005",route="/v1/models/{name}:predict"} 2.0' in text
    assert "churn_request_instances_sum 2.0" in text
    assert 'churn_prediction_score_bucket{le="0.1"} 1.0' in text
    assert 'churn_prediction_score_bucket{le="1.0"} 2.0' in text
    assert 'churn_model_info{engine="numpy",name="churn",version="3"} 1.0' in text
    assert text == generate_latest(metrics.registry).decode()


def _answer_table(tmp_path, threshold: float = 0.5):
    from pipeline.training.calibration import fit_answer

    rng = np.random.default_rng(1)
    raw = rng.random(400).astype(np.float32)
    answer = fit_answer(raw, (rng.random(400) < raw ** 2).astype(int), EvaluateConfig())
    (tmp_path / "intervals.json").write_text(__import__("json").dumps({**answer, "threshold": threshold}))
    return answer


def test_scorer_outputs_are_the_signature_outputs_of_the_pipeline_table(tmp_path) -> None:
    from pipeline.training.calibration import calibrate

    answer = _answer_table(tmp_path)
    rng = np.random.default_rng(2)
    raw = np.concatenate([rng.random(1000), [0.0, 1.0]])
    scorer = Scorer("churn", "1", "test", 0.5, interval_table(tmp_path), lambda numeric, codes: raw)
    outputs = scorer.outputs(sample_batch(len(raw)))
    assert list(outputs) == ["churn_probability", "raw_probability", "interval", "churn"]
    assert {k: v.dtype.name for k, v in outputs.items()} == {
        "churn_probability": "float32", "raw_probability": "float32", "interval": "float32", "churn": "bool"}
    probability = outputs["churn_probability"]
    np.testing.assert_allclose(probability, calibrate(raw, answer["calibration"]), atol=1e-7)
    expected = intervals_for(probability.astype(np.float64), answer)
    np.testing.assert_array_equal(outputs["interval"], expected.astype(np.float32))
    np.testing.assert_array_equal(outputs["churn"], probability >= np.float32(0.5))
    scores = scorer.score(sample_batch(len(raw)))  # the legacy view of the same answer
    np.testing.assert_array_equal(scores.probability, probability.astype(np.float64))
    np.testing.assert_array_equal(scores.upper, outputs["interval"][:, 1].astype(np.float64))


def test_every_served_interval_brackets_its_probability(tmp_path) -> None:
    _answer_table(tmp_path)
    raw = np.linspace(0, 1, 5001)
    scorer = Scorer("churn", "1", "test", 0.5, interval_table(tmp_path), lambda numeric, codes: raw)
    outputs = scorer.outputs(sample_batch(len(raw)))
    probability, interval = outputs["churn_probability"], outputs["interval"]
    assert np.all(interval[:, 0] <= probability) and np.all(probability <= interval[:, 1])


def test_output_differences_catch_any_disagreeing_output() -> None:
    from pipeline.serving.scorer import output_differences

    reference = {"churn_probability": np.array([0.2, 0.7], np.float32), "churn": np.array([False, True])}
    assert output_differences(dict(reference), reference) == (0.0, [])
    worse = {**reference, "churn_probability": np.array([0.2, 0.7001], np.float32)}
    assert output_differences(worse, reference)[1] == [
        "churn_probability differs from the SavedModel by 1.00e-04 > 1e-05"]
    flipped = {**reference, "churn": np.array([True, True])}
    assert output_differences(flipped, reference)[1] == ["churn differs from the SavedModel on 1 rows"]
    wrong_type = {**reference, "churn_probability": reference["churn_probability"].astype(np.float64)}
    assert output_differences(wrong_type, reference)[1] == [
        "churn_probability missing or of another dtype/shape than the SavedModel's"]


def test_verification_sample_covers_every_value_and_bound() -> None:
    batch = sample_batch()
    for column, values in enumerate(schema.CATEGORICAL_VALUES.values()):
        assert set(batch.codes[:, column]) == set(range(len(values) + 1))  # and the unknown code
    for column, name in enumerate(schema.NUMERIC_FEATURES):
        bounds = schema.NUMERIC_RANGES[name]
        assert batch.numeric[:, column].min() == bounds.low and batch.numeric[:, column].max() == bounds.high
    assert len(sample_batch(1)) == 1


def test_cli_passes_the_concurrency_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    seen: list[server.ServeOptions] = []
    monkeypatch.setattr(server, "serve", lambda config, options, announce: seen.append(options))
    result = CliRunner().invoke(app, ["serve", "--limit-concurrency", "9", "--port", "8099"])
    assert result.exit_code == 0, result.output
    assert seen[0].limit_concurrency == 9 and seen[0].port == 8099
