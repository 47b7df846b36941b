"""The TF Serving twin of the parity test (tests/fakes/tf_serving_rest.py) against TF Serving's
own documented examples (g3doc/api_rest.md) and unit-test expectations
(tensorflow_serving/util/json_tensor_test.cc), on a tiny SavedModel: half_plus_three with one
input and one output, and a signature with two inputs and several outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from tests.fakes.tf_serving_rest import TFServingModel, response_body, write_decimal


class _Toy(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def half_plus_three(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * 0.5 + 3.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x"),
                                  tf.TensorSpec([None], tf.string, name="tag")])
    def tagged(self, x: tf.Tensor, tag: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * 0.5 + 3.0, "tag": tag, "tag_bytes": tag, "big": x > 1.0}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TFServingModel:
    toy = _Toy()
    directory = tmp_path_factory.mktemp("toy") / "1"
    tf.saved_model.save(toy, str(directory), signatures={"serving_default": toy.half_plus_three,
                                                          "tagged": toy.tagged})
    return TFServingModel(directory)


def predict(model: TFServingModel, body: Any) -> tuple[int, Any]:
    status, answer = model.predict(body if isinstance(body, bytes) else json.dumps(body).encode())
    return status, json.loads(answer)


def test_the_documented_half_plus_three_example(model: TFServingModel) -> None:
    # api_rest.md: {"instances": [1.0,2.0,5.0]} -> {"predictions": [3.5, 4.0, 5.5]}
    assert predict(model, {"instances": [1.0, 2.0, 5.0]}) == (200, {"predictions": [3.5, 4.0, 5.5]})
    assert predict(model, {"inputs": [1.0, 2.0, 5.0]}) == (200, {"outputs": [3.5, 4.0, 5.5]})
    assert predict(model, {"inputs": {"x": [1.0]}}) == (200, {"outputs": [3.5]})


def test_several_outputs_are_keyed_by_name_and_bytes_tensors_are_base64(model: TFServingModel) -> None:
    status, answer = predict(model, {"signature_name": "tagged", "instances": [{"x": 1, "tag": "a"},
                                                                               {"x": 4, "tag": "b"}]})
    assert status == 200
    assert answer == {"predictions": [{"y": 3.5, "tag": "a", "tag_bytes": {"b64": "YQ=="}, "big": False},
                                      {"y": 5.0, "tag": "b", "tag_bytes": {"b64": "Yg=="}, "big": True}]}
    status, answer = predict(model, {"signature_name": "tagged", "inputs": {"x": [1, 4], "tag": ["a", "b"]}})
    assert answer["outputs"] == {"y": [3.5, 5.0], "tag": ["a", "b"], "tag_bytes": [{"b64": "YQ=="}, {"b64": "Yg=="}],
                                 "big": [False, True]}


@pytest.mark.parametrize("body, words", [
    (b"", "The document is empty"),
    ({"signature_name": 5, "instances": [1.0]}, "must be a string value"),
    ({"signature_name": "nope", "instances": [1.0]}, 'Serving signature name: "nope" not found in signature def'),
    ({"instances": [1.0], "inputs": [1.0]}, "Not formatted correctly"),
    ({"instances": []}, "No values in 'instances' array"),
    ({"instances": 1.0}, "Expecting 'instances' to be an list/array"),
    ({"x": [1.0]}, "Missing 'inputs' or 'instances' key"),
    ({"instances": [1, [1]]}, "Expecting shape"),
    ({"instances": ["a"]}, 'JSON Value: "a" Type: String is not of expected type: float'),
    ({"signature_name": "tagged", "instances": [1.0]}, "instances is a plain list, but expecting list of objects"),
    ({"signature_name": "tagged", "instances": [{"x": 1}]}, "keys must be equal to: tag,x"),
    ({"signature_name": "tagged", "instances": [{"x": 1, "tag": "a", "z": 1}]},
     "Failed to process element: 0 key: z of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not "
     "have named input: z"),
    ({"signature_name": "tagged", "inputs": {"x": [1]}}, "Missing named input: tag in 'inputs' object."),
    ({"signature_name": "tagged", "instances": [{"x": 1, "tag": {"b64": "*"}}]}, "Unable to base64 decode"),
])
def test_errors_are_400_with_tf_servings_message(model: TFServingModel, body: Any, words: str) -> None:
    status, answer = predict(model, body)
    assert status == 400 and set(answer) == {"error"} and words in answer["error"], answer


def test_columnar_keys_beyond_the_signature_are_not_read(model: TFServingModel) -> None:
    body = {"signature_name": "tagged", "inputs": {"x": [1], "tag": ["a"], "unread": "anything"}}
    assert predict(model, body)[0] == 200


def test_floats_are_written_as_tf_serving_writes_them() -> None:
    # json_tensor_test.cc FromJsonSingleFloatTensorSixDigitPrecision and ...NonFinite
    values = np.array([9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5], dtype=np.float32)
    assert [write_decimal(float(v), values.dtype) for v in values] == \
        ["9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5"]
    special = np.array([np.nan, np.inf, 3, -np.inf], dtype=np.float32)
    assert response_body({"f": special.reshape(2, 2)}, "row") == '{"predictions": [[NaN, Infinity], [3.0, -Infinity]]}'
    # A float32 that %g does not round-trip gets max_digits10 (9) digits.
    assert write_decimal(float(np.float32(0.1)), np.dtype(np.float32)) == "0.1"
    assert write_decimal(float(np.float32(0.6459934)), np.dtype(np.float32)) == "0.645993412"


def test_row_outputs_need_a_batch_dimension() -> None:
    with pytest.raises(Exception, match="no shape information"):
        response_body({"a": np.float32(1.0).reshape(()), "b": np.zeros(1, np.float32)}, "row")


def test_an_unloadable_artifact_fails_the_deploy(tmp_path: Path) -> None:
    from tests.fakes.vertex_models import ModelLoadError, ServedModels

    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01fake saved model")
    with pytest.raises(ModelLoadError, match="cannot load"):
        ServedModels().load("1", str(tmp_path))
