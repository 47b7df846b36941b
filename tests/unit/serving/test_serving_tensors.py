"""TF Serving's JSON tensor rules in the local server (pipeline.serving.tensors), found by the
parity test against tests/fakes/tf_serving_rest.py: nested one-value lists, columnar scalars
and empty columns, {"b64": ...} strings, an empty signature_name, columnar keys beyond the
signature."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from pipeline.serving.instances import EXAMPLE_INSTANCE, RequestError, parse_request
from pipeline.serving.tensors import TensorValueError, dense_leaves

VALID: dict[str, Any] = EXAMPLE_INSTANCE


def parsed_rows(*instances: dict[str, Any], **body: Any) -> Any:
    return parse_request({"instances": list(instances), **body}, "tfserving", 10)


def test_dense_leaves_reads_json_as_tf_serving_reads_tensors() -> None:
    assert dense_leaves(5, "x", None, "x") == ([], [5])
    assert dense_leaves([[1, 2], [3, 4]], "x", None, "x") == ([2, 2], [1, 2, 3, 4])
    assert dense_leaves([], "x", None, "x") == ([0], [])
    for ragged, words in (([[1, 2], [3]], "unexpected size"), ([[1], 2], "incorrect level"),
                          ([1, [2]], "unexpected level")):
        with pytest.raises(TensorValueError, match=words):
            dense_leaves(ragged, "x", None, "x")


def test_one_value_lists_score_like_the_value_and_are_logged_as_it() -> None:
    changed = dict(VALID, tenure=[1], Contract=[["Month-to-month"]])
    nested = parsed_rows(changed, changed)
    plain = parsed_rows(VALID, VALID)
    np.testing.assert_array_equal(nested.batch.numeric, plain.batch.numeric)
    np.testing.assert_array_equal(nested.batch.codes, plain.batch.codes)
    assert nested.instances == plain.instances  # the log holds what the model saw


def test_one_input_must_have_one_shape_across_instances() -> None:
    with pytest.raises(RequestError) as caught:
        parsed_rows(VALID, dict(VALID, tenure=[1]))
    assert (caught.value.status, caught.value.instance, caught.value.field) == (400, 1, "tenure")
    assert "Expecting shape [] but got: [1]" in caught.value.message


def test_inputs_with_different_value_counts_are_refused() -> None:
    with pytest.raises(RequestError) as caught:
        parsed_rows(dict(VALID, tenure=[1, 2]))
    assert caught.value.status == 400 and caught.value.field == "tenure"


def test_b64_strings_are_decoded() -> None:
    encoded = {"b64": base64.b64encode(b"One year").decode()}
    parsed = parsed_rows(dict(VALID, Contract=encoded))
    assert parsed.batch.codes.tolist() == parsed_rows(dict(VALID, Contract="One year")).batch.codes.tolist()
    ids = parsed_rows(dict(VALID, customerID={"b64": base64.b64encode(b"7590-VHVEG").decode()}),
                      signature_name="with_customer_id")
    assert ids.batch.customer_ids == ["7590-VHVEG"]
    for bad, words in (({"b64": "%%%"}, "Unable to base64 decode"), ({"b64": 1}, "base64 data")):
        with pytest.raises(RequestError, match=words):
            parsed_rows(dict(VALID, Contract=bad))
    with pytest.raises(RequestError, match="is not of expected type: float"):
        parsed_rows(dict(VALID, tenure=encoded))


def test_an_empty_signature_name_is_the_default() -> None:
    assert parsed_rows(VALID, signature_name="").signature == "serving_default"
    with pytest.raises(RequestError, match="must be a string value"):
        parsed_rows(VALID, signature_name=None)


def test_columnar_scalars_empty_columns_and_keys_beyond_the_signature() -> None:
    scalars = parse_request({"inputs": dict(VALID)}, "tfserving", 10)
    assert len(scalars.batch) == 1 and scalars.instances == [VALID]
    extra = parse_request({"inputs": {**{k: [v] for k, v in VALID.items()}, "colour": ["red"]}}, "tfserving", 10)
    assert extra.instances == [VALID]
    empty = parse_request({"inputs": {k: [] for k in VALID}}, "tfserving", 10)
    assert len(empty.batch) == 0 and empty.instances == []
    with pytest.raises(RequestError) as caught:
        parse_request({"inputs": {k: [v] * 11 for k, v in VALID.items()}}, "tfserving", 10)
    assert caught.value.status == 413
