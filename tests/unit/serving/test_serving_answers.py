"""Answer bodies as TF Serving writes them (json_tensor.cc) and Vertex's error shape."""

from __future__ import annotations

import numpy as np
import orjson

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
