"""Answer bodies as TF Serving writes them (json_tensor.cc) and Vertex's error shape."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from pipeline.serving import answers
from pipeline.serving.answers import error_body, json_values, tfserving_body


def test_floats_are_float32_values_printed_like_tf_serving() -> None:
    values = np.array([0.2, 0.6459934711456299, 1.0, 3e-05], dtype=np.float32)
    printed = json_values(values)
    assert printed[0] == 0.2 and printed[2] == 1.0 and printed[3] == 3e-05  # %g round-trips
    assert printed[1] == 0.645993471  # %g does not: %.9g
    assert np.float32(printed).tolist() == values.tolist()  # the same float32 values
    assert orjson.dumps(json_values(np.array([0.2], dtype=np.float32))) == b"[0.2]"  # not 0.20000000298


def test_one_output_omits_its_name_several_give_one_object_per_instance() -> None:
    one = {"churn_probability": np.array([0.5, 0.25], dtype=np.float32)}
    assert tfserving_body(one, columnar=False) == {"predictions": [0.5, 0.25]}
    assert tfserving_body(one, columnar=True) == {"outputs": [0.5, 0.25]}
    several = {"churn_probability": np.array([0.5], dtype=np.float32),
               "interval": np.array([[0.25, 0.75]], dtype=np.float32), "churn": np.array([True])}
    assert tfserving_body(several, columnar=False) == {
        "predictions": [{"churn_probability": 0.5, "interval": [0.25, 0.75], "churn": True}]}
    assert tfserving_body(several, columnar=True) == {
        "outputs": {"churn_probability": [0.5], "interval": [[0.25, 0.75]], "churn": [True]}}


def test_error_shapes() -> None:
    assert error_body(400, "bad", "tfserving") == {"error": "bad"}
    assert error_body(400, "bad", "vertex") == {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
    assert error_body(503, "later", "vertex")["error"]["status"] == "UNAVAILABLE"


def _printed_reference(flat: np.ndarray) -> np.ndarray:
    """TF Serving's digits the slow, obvious way: %g when it reads back as the float32, else %.9g."""
    values = flat.astype(np.float64).tolist()
    short = [float(f"{x:g}") for x in values]
    exact = (np.asarray(short, dtype=np.float32) == flat).tolist()
    return np.asarray([s if ok else float(f"{x:.9g}") for s, ok, x in zip(short, exact, values, strict=True)])


@pytest.mark.parametrize("values", [
    np.random.default_rng(1).random(50_000),  # probabilities
    np.random.default_rng(2).random(20_000) ** 8,  # small ones, down to 1e-30
    np.exp(np.random.default_rng(3).uniform(-80, 80, 20_000)),  # every magnitude
    np.random.default_rng(4).uniform(-1e7, 1e7, 20_000),  # signs, large values
    np.arange(1, 2 ** 14) / 2 ** 7,  # exact binary fractions: ties at the last printed digit
    10 ** np.random.default_rng(5).uniform(-7, 6, 20_000),  # every magnitude of the in-range path
    -(10 ** np.random.default_rng(6).uniform(-7, -3, 20_000)),  # negative, and %.9g below 1e-4
    [1.0000001e-7, 1e-6, 9.99999e-5, 1e-4, 1.0001e-4, 0.1, 0.5, 1.0, 10.0, 99999.95, 999999.5, 999999.94,
     9.310196765e-05, 4.500175055e-05, 2.928801905e-06],  # the last three: 10**p times them is inexact
    [0.0, -0.0, 1.0, 0.1, 1e-7, 9.999999e-8, 1e-5, 0.9921875, 99999.95, 999999.5, 1e6, np.inf, -np.inf, np.nan,
     1e-45, 3.4028235e38, 0.99999994, 1234565.0],
])
def test_vectorised_float_printing_gives_the_digits_of_the_string_formatting(values: object) -> None:
    flat = np.asarray(values, dtype=np.float32)
    for chunk in (flat, flat[:3], flat[:8], flat[:9]):  # the small (Python) and the NumPy paths
        ours, reference = answers.tf_serving_floats(chunk), _printed_reference(chunk)
        same = ((ours == reference) & (np.signbit(ours) == np.signbit(reference))) \
            | (np.isnan(ours) & np.isnan(reference))
        assert same.all(), (chunk[~same][:5], ours[~same][:5], reference[~same][:5])


@pytest.mark.parametrize("shape", [(1,), (2,), (1, 2), (2, 2), (3, 1), (1, 1, 2), (2, 0), (0,)])
def test_few_values_are_formatted_as_many_are(shape: tuple[int, ...]) -> None:
    from pipeline.serving.answers import _printed_rows

    values = np.random.default_rng(7).uniform(0, 1, shape).astype(np.float32)
    assert _printed_rows(values) == json_values(values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_instance_answers_are_built_as_any_other(dtype: type) -> None:
    rng = np.random.default_rng(11)
    outputs = {"churn_probability": rng.random(1).astype(dtype), "raw_probability": rng.random(1).astype(dtype),
               "interval": rng.random((1, 2)).astype(dtype), "churn": np.array([True]),
               "customerID": np.array(["7590-VHVEG"], dtype=object)}
    fast = tfserving_body(outputs, columnar=False)
    values = answers._json_outputs(outputs)
    assert fast == {"predictions": [answers.row_maker(tuple(values))(*(v[0] for v in values.values()))]}
    assert orjson.dumps(fast) == orjson.dumps({"predictions": [dict(zip(values, (v[0] for v in values.values()),
                                                                          strict=True))]})
    three_d = dict(outputs, interval=rng.random((1, 2, 1)).astype(dtype))
    assert tfserving_body(three_d, columnar=False)["predictions"][0]["interval"] == json_values(three_d["interval"])[0]


@pytest.mark.parametrize("special", [0.5, np.nan, np.inf, -0.0, 1e-45, 0.645993471])
def test_a_row_of_python_values_is_answered_as_its_arrays_are(special: float) -> None:
    """What a request that shared its model call gets (a ScoredRow's tolist values)."""
    rng = np.random.default_rng(13)
    outputs = {"churn_probability": np.array([special], dtype=np.float32),
               "raw_probability": rng.random(1).astype(np.float32),
               "interval": np.array([[special, rng.random()]], dtype=np.float32), "churn": np.array([False]),
               "customerID": np.array(["7590-VHVEG"], dtype=object)}
    values = {name: array.tolist()[0] for name, array in outputs.items()}
    assert orjson.dumps(answers.row_answer(values)) == \
        orjson.dumps(tfserving_body(outputs, columnar=False))
    one = {"churn_probability": outputs["churn_probability"]}  # one output: no names, as TF Serving answers
    assert orjson.dumps(answers.row_answer({"churn_probability": values["churn_probability"]})) == \
        orjson.dumps(tfserving_body(one, columnar=False))
