"""Request validation: the schema's rules, one clear error naming the instance and field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.serving.instances import (
    EXAMPLE_INSTANCE,
    RequestError,
    encode_frame,
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


@pytest.mark.parametrize("text, number", [(" ", 0.0), ("", 0.0), ("1889.5", 1889.5), (" 12 ", 12.0)])
def test_total_charges_may_be_text_like_the_public_file(text: str, number: float) -> None:
    batch, _ = validate_payload({"instances": [dict(VALID, TotalCharges=text)]}, 10)
    assert batch.numeric[0, 3] == number


def test_customer_id_is_kept_apart_from_the_features() -> None:
    batch, _ = validate_payload({"instances": [dict(VALID, customerID="7590-VHVEG")]}, 10)
    assert batch.customer_ids == ["7590-VHVEG"]
    assert refused([dict(VALID, customerID=7)]).field == "customerID"


@pytest.mark.parametrize("change, code, field", [
    ({"tenure": "abc"}, "wrong_type", "tenure"),
    ({"tenure": "12"}, "wrong_type", "tenure"),  # only TotalCharges may be text
    ({"SeniorCitizen": True}, "wrong_type", "SeniorCitizen"),
    ({"MonthlyCharges": None}, "wrong_type", "MonthlyCharges"),
    ({"TotalCharges": "NaN"}, "wrong_type", "TotalCharges"),
    ({"TotalCharges": "inf"}, "wrong_type", "TotalCharges"),
    ({"TotalCharges": [1]}, "wrong_type", "TotalCharges"),
    ({"tenure": 1.5}, "out_of_range", "tenure"),
    ({"tenure": 73}, "out_of_range", "tenure"),
    ({"MonthlyCharges": -1}, "out_of_range", "MonthlyCharges"),
    ({"TotalCharges": 1e300}, "out_of_range", "TotalCharges"),
    ({"Contract": "Weekly"}, "unknown_category", "Contract"),
    ({"Contract": "month-to-month"}, "unknown_category", "Contract"),
    ({"gender": 1}, "wrong_type", "gender"),
    ({"gender": {"a": 1}}, "wrong_type", "gender"),
    ({"gender": ["Male"]}, "wrong_type", "gender"),
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
])
def test_body_shape_errors(body: Any, code: str, status: int) -> None:
    with pytest.raises(RequestError) as caught:
        validate_payload(body, 10)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.body()["error"]["message"]


def test_encode_frame_matches_validate_payload(tmp_path) -> None:
    from pipeline.tools import synth

    frame = synth.generate_customers(50, seed=3)
    csv = synth.write_customers(frame, tmp_path / "c.csv")
    validated = next(data.iter_batches(csv, require_label=False))
    from_frame = encode_frame(validated)
    instances = pd.read_csv(csv, dtype=str, keep_default_na=False).drop(columns=["customerID", "Churn"])
    records = [{k: (float(v) if k in ("MonthlyCharges",) else int(v) if k in ("tenure", "SeniorCitizen") else v)
                for k, v in row.items()} for row in instances.to_dict("records")]
    from_json, _ = validate_payload({"instances": records}, 1000)
    np.testing.assert_array_equal(from_frame.codes, from_json.codes)
    np.testing.assert_allclose(from_frame.numeric, from_json.numeric)
    assert from_frame.customer_ids == validated["customerID"].tolist()


NOT_PLAIN_NUMBERS = ["1_000", "\u0663", "\u0661\u0662", "inf", "-Infinity", "nan", "0x10", "1e999", "12,5", "\uff11"]


@pytest.mark.parametrize("text", NOT_PLAIN_NUMBERS)
def test_total_charges_text_follows_the_loaders_number_rule(text: str, tmp_path) -> None:
    # float() takes "1_000" and Arabic-Indic digits; the server and the CSV loader both refuse them.
    error = refused([dict(VALID, TotalCharges=text)])
    assert (error.code, error.field) == ("wrong_type", "TotalCharges")
    from pipeline.tools import synth

    frame = synth.generate_customers(5, seed=1).astype(str)
    frame.loc[2, "TotalCharges"] = text
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(data.DataError, match=r"column TotalCharges, line 4: .* is not a number"):
        data.load_dataset(path, require_label=False)


@pytest.mark.parametrize("text, number", [("1e3", 1000.0), ("+12.5", 12.5), (".5", 0.5), ("7.", 7.0)])
def test_plain_decimal_text_is_a_number_in_both(text: str, number: float) -> None:
    batch, _ = validate_payload({"instances": [dict(VALID, TotalCharges=text)]}, 10)
    assert batch.numeric[0, 3] == number == schema.parse_number(text)


def test_a_huge_bad_value_is_not_echoed_whole() -> None:
    error = refused([dict(VALID, gender="x" * 5_000_000)])
    assert error.code == "unknown_category" and len(error.message) < 300
    assert "5,000,000 characters" in error.message
