"""Request parsing as TF Serving and Vertex take requests: row and columnar formats,
signatures, JSON numbers only, exact keys; one clear error naming the instance and field;
out-of-range values and unknown categories scored (OOV) and counted, not refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.serving.instances import (
    EXAMPLE_INSTANCE,
    OOV,
    RequestError,
    encode_frame,
    parse_request,
    raw_features,
    validate_payload,
)
from pipeline.training import data, schema

VALID: dict[str, Any] = EXAMPLE_INSTANCE


def refused(instances: Any, max_instances: int = 10) -> RequestError:
    with pytest.raises(RequestError) as caught:
        validate_payload({"instances": instances}, max_instances)
    return caught.value


def test_valid_instances_are_encoded_in_schema_order() -> None:
    second = dict(VALID, gender="Male", Contract="Two year", tenure=72, TotalCharges=2000)
    batch, instances = validate_payload({"instances": [VALID, second], "parameters": {}}, 10)
    assert batch.numeric.shape == (2, 4) and batch.codes.shape == (2, 15)
    assert batch.numeric[1].tolist() == [0, 72, 29.85, 2000]
    contract = schema.CATEGORICAL_FEATURES.index("Contract")
    assert batch.codes[:, contract].tolist() == [0, 2]
    assert batch.customer_ids == [None, None] and instances[1] is second
    features = raw_features(batch)
    assert list(features) == list(schema.FEATURES)
    assert features["Contract"].tolist() == ["Month-to-month", "Two year"]
    assert features["tenure"].dtype == np.float32


@pytest.mark.parametrize("text", [" ", "", "1889.5", " 12 "])
def test_numbers_as_text_are_refused_like_tf_serving(text: str) -> None:
    # json_tensor.cc: a string for a float tensor "is not of expected type: float"
    error = refused([dict(VALID, TotalCharges=text)])
    assert (error.code, error.field, error.instance) == ("wrong_type", "TotalCharges", 0)
    assert "is not of expected type: float" in error.message


def test_customer_id_comes_through_the_id_signature() -> None:
    body = {"signature_name": "with_customer_id", "instances": [dict(VALID, customerID="7590-VHVEG")]}
    parsed = parse_request(body, "tfserving", 10)
    assert parsed.batch.customer_ids == ["7590-VHVEG"] and parsed.signature == "with_customer_id"
    error = refused([dict(VALID, customerID="7590-VHVEG")])  # serving_default has no customerID input
    assert (error.code, error.field) == ("unknown_feature", "customerID") and "with_customer_id" in error.message
    with pytest.raises(RequestError, match="customerID"):
        parse_request({**body, "instances": [dict(VALID, customerID=7)]}, "tfserving", 10)
    with pytest.raises(RequestError, match="missing named input customerID"):
        parse_request({**body, "instances": [VALID]}, "tfserving", 10)


def test_vertex_predict_takes_instances_and_parameters_only() -> None:
    parsed = parse_request({"instances": [VALID], "parameters": {"x": 1}}, "vertex", 10)
    assert parsed.signature == "serving_default" and not parsed.columnar
    for extra in ("signature_name", "inputs"):
        with pytest.raises(RequestError, match=extra) as caught:
            parse_request({"instances": [VALID], extra: "with_customer_id"}, "vertex", 10)
        assert caught.value.status == 400


def test_tf_serving_ignores_unknown_top_level_keys_and_checks_signature_name() -> None:
    assert len(parse_request({"instances": [VALID], "parameters": 3, "x": 1}, "tfserving", 10).batch) == 1
    for name, code in [("nope", "unknown_signature"), (3, "invalid_signature")]:
        with pytest.raises(RequestError) as caught:
            parse_request({"instances": [VALID], "signature_name": name}, "tfserving", 10)
        assert (caught.value.code, caught.value.field) == (code, "signature_name")


def test_columnar_inputs_match_row_instances() -> None:
    second = dict(VALID, tenure=40, Contract="Two year")
    rows = parse_request({"instances": [VALID, second]}, "tfserving", 10)
    columns = parse_request({"inputs": {k: [VALID[k], second[k]] for k in VALID}}, "tfserving", 10)
    assert columns.columnar and not rows.columnar and columns.instances == rows.instances
    np.testing.assert_array_equal(columns.batch.numeric, rows.batch.numeric)
    np.testing.assert_array_equal(columns.batch.codes, rows.batch.codes)


@pytest.mark.parametrize("inputs, code, field", [
    ({k: [v] for k, v in VALID.items() if k != "tenure"}, "missing_feature", "tenure"),
    ({**{k: [v] for k, v in VALID.items()}, "tenure": [1, 2]}, "invalid_tensor", "tenure"),
    ({**{k: [v] for k, v in VALID.items()}, "tenure": ["1"]}, "wrong_type", "tenure"),
    ([1, 2], "invalid_inputs", "inputs"),
])
def test_columnar_errors(inputs: Any, code: str, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request({"inputs": inputs}, "tfserving", 10)
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, code, field)
    if code == "wrong_type":
        assert "inputs.tenure[0]" in caught.value.message


def test_both_or_neither_of_instances_and_inputs_is_refused() -> None:
    for body in [{"instances": [VALID], "inputs": {}}, {"signature_name": "serving_default"}]:
        with pytest.raises(RequestError):
            parse_request(body, "tfserving", 10)


@pytest.mark.parametrize("change, kind, field", [
    ({"tenure": 1.5}, "out_of_range", "tenure"),
    ({"tenure": 73}, "out_of_range", "tenure"),
    ({"MonthlyCharges": -1}, "out_of_range", "MonthlyCharges"),
    ({"Contract": "Weekly"}, "unknown_category", "Contract"),
    ({"Contract": "month-to-month"}, "unknown_category", "Contract"),
])
def test_what_tf_serving_would_score_is_scored_and_counted(change: dict, kind: str, field: str) -> None:
    parsed = parse_request({"instances": [VALID, dict(VALID, **change)]}, "tfserving", 10)
    assert dict(parsed.unusual) == {(kind, field): 1}
    if kind == "unknown_category":
        assert parsed.batch.has_unknown_categories() and parsed.batch.first_unknown_category() == (1, field)
        assert raw_features(parsed.batch)[field].tolist()[1] == OOV
    else:
        assert not parsed.batch.has_unknown_categories()


@pytest.mark.parametrize("change, code, field", [
    ({"tenure": "abc"}, "wrong_type", "tenure"),
    ({"tenure": "12"}, "wrong_type", "tenure"),
    ({"TotalCharges": "29.85"}, "wrong_type", "TotalCharges"),
    ({"SeniorCitizen": True}, "wrong_type", "SeniorCitizen"),
    ({"MonthlyCharges": None}, "wrong_type", "MonthlyCharges"),
    ({"TotalCharges": "NaN"}, "wrong_type", "TotalCharges"),
    ({"TotalCharges": "inf"}, "wrong_type", "TotalCharges"),
    ({"TotalCharges": [1]}, "invalid_tensor", "TotalCharges"),  # instance 0 gave it as a scalar
    ({"TotalCharges": 1e300}, "out_of_range", "TotalCharges"),  # beyond float32
    ({"gender": 1}, "wrong_type", "gender"),
    ({"gender": {"a": 1}}, "invalid_tensor", "gender"),  # not {"b64": ...}
    ({"gender": ["Male"]}, "invalid_tensor", "gender"),
    ({"extra": 1}, "unknown_feature", "extra"),
])
def test_bad_values_name_the_instance_and_field(change: dict, code: str, field: str) -> None:
    error = refused([VALID, dict(VALID, **change)])
    assert (error.status, error.code, error.instance, error.field) == (400, code, 1, field)
    assert "instances[1]" in error.message and field in error.message


def test_tenure_as_whole_float_is_accepted() -> None:
    batch, _ = validate_payload({"instances": [dict(VALID, tenure=12.0)]}, 10)
    assert batch.numeric[0, 1] == 12


@pytest.mark.parametrize("drop", ["gender", "TotalCharges", "PaymentMethod"])
def test_missing_feature(drop: str) -> None:
    error = refused([{k: v for k, v in VALID.items() if k != drop}])
    assert (error.code, error.instance, error.field) == ("missing_feature", 0, drop)


def test_missing_feature_replaced_by_customer_id_is_still_missing() -> None:
    instance = {k: v for k, v in VALID.items() if k != "tenure"} | {"customerID": "x"}
    assert (refused([instance]).code, refused([instance]).field) == ("missing_feature", "tenure")


@pytest.mark.parametrize("body, code, status", [
    ([], "invalid_body", 400),
    ("text", "invalid_body", 400),
    ({}, "invalid_instances", 400),
    ({"instances": {}}, "invalid_instances", 400),
    ({"instances": []}, "empty_instances", 400),
    ({"instances": [1]}, "invalid_instance", 400),
    ({"instances": [VALID], "parameters": 3}, "invalid_parameters", 400),
    ({"instances": [VALID], "instance": []}, "unknown_field", 400),
    ({"instances": [VALID] * 11}, "too_many_instances", 413),
    ({"instances": [[1, 2]]}, "invalid_instance", 400),
])
def test_body_shape_errors(body: Any, code: str, status: int) -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(body, "vertex", 10)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.body()["error"]["message"]


def test_encode_frame_matches_validate_payload(tmp_path) -> None:
    from pipeline.tools import synth

    frame = synth.generate_customers(50, seed=3)
    csv = synth.write_customers(frame, tmp_path / "c.csv")
    validated = next(data.iter_batches(csv, require_label=False))
    from_frame = encode_frame(validated)
    instances = pd.read_csv(csv, dtype=str, keep_default_na=False).drop(columns=["customerID", "Churn"])
    records = [{k: (float(v.strip() or 0) if k in ("MonthlyCharges", "TotalCharges")
                    else int(v) if k in ("tenure", "SeniorCitizen") else v)
                for k, v in row.items()} for row in instances.to_dict("records")]
    from_json, _ = validate_payload({"instances": records}, 1000)
    np.testing.assert_array_equal(from_frame.codes, from_json.codes)
    np.testing.assert_allclose(from_frame.numeric, from_json.numeric)
    assert from_frame.customer_ids == validated["customerID"].tolist()
    assert from_json.customer_ids == [None] * 50


def test_a_huge_bad_value_is_not_echoed_whole() -> None:
    error = refused([dict(VALID, tenure="x" * 5_000_000)])
    assert error.code == "wrong_type" and len(error.message) < 300
    assert "5,000,000 characters" in error.message


NOT_PLAIN_NUMBERS = ["1_000", "\u0663", "\u0661\u0662", "inf", "-Infinity", "nan", "0x10", "1e999", "12,5", "\uff11"]


@pytest.mark.parametrize("text", NOT_PLAIN_NUMBERS)
def test_odd_number_text_is_refused_by_the_server_and_the_loader(text: str, tmp_path) -> None:
    # The server takes no text for a number at all; the CSV loader reads plain decimal text only.
    error = refused([dict(VALID, TotalCharges=text)])
    assert (error.code, error.field) == ("wrong_type", "TotalCharges")
    from pipeline.tools import synth

    frame = synth.generate_customers(5, seed=1).astype(str)
    frame.loc[2, "TotalCharges"] = text
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(data.DataError, match=r"column TotalCharges, line 4: .* is not a number"):
        data.load_dataset(path, require_label=False)
