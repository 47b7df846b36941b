"""The whole-request encoding of plain row requests (pipeline.serving.rows) gives what the
general per-column path gives, and hands everything else to it."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from pipeline.serving import instances as general
from pipeline.serving import predlog
from pipeline.serving.instances import EXAMPLE_INSTANCE, ID_SIGNATURE, SIGNATURE_INPUTS, parse_request, plain_batch
from pipeline.serving.rows import encode_plain_rows
from pipeline.training import schema

NAMES = SIGNATURE_INPUTS["serving_default"]


def random_instance(rng: random.Random, unusual: bool) -> dict[str, Any]:
    instance: dict[str, Any] = {name: rng.choice(values) for name, values in schema.CATEGORICAL_VALUES.items()}
    for name, bounds in schema.NUMERIC_RANGES.items():
        value: float = rng.randint(int(bounds.low), int(bounds.high)) if bounds.integer else \
            round(rng.uniform(bounds.low, bounds.high), 2)
        if unusual and rng.random() < 0.3:  # out of range, or a fraction for an integer feature
            value = rng.choice([bounds.high + 1, bounds.low - 5, 0.5, 1e30])
        instance[name] = value
    keys = list(instance)
    rng.shuffle(keys)  # clients send keys in any order
    return {key: instance[key] for key in keys}


def general_encoding(rows: list[dict[str, Any]], names: tuple[str, ...]):
    columns = dict(zip(names, general._columns_of_rows(rows, names), strict=True))
    return general._encode(columns, general._row_place)


@pytest.mark.parametrize("count", [1, 2, 8, 9, 100])
@pytest.mark.parametrize("unusual", [False, True])
def test_plain_rows_encode_as_the_general_path_does(count: int, unusual: bool) -> None:
    rng = random.Random(count * 2 + unusual)
    rows = [random_instance(rng, unusual) for _ in range(count)]
    fast = encode_plain_rows(rows, NAMES)
    assert fast is not None
    numeric, codes, ids, found, logged = fast
    fast_batch = plain_batch(numeric, codes, ids)
    batch, expected = general_encoding(rows, NAMES)
    assert logged == [tuple(row[name] for name in predlog.LOGGED_FEATURES) for row in rows]
    assert fast_batch.numeric.dtype == batch.numeric.dtype and fast_batch.codes.dtype == batch.codes.dtype
    assert fast_batch.numeric.shape == batch.numeric.shape and fast_batch.codes.shape == batch.codes.shape
    np.testing.assert_array_equal(fast_batch.numeric, batch.numeric)
    np.testing.assert_array_equal(fast_batch.codes, batch.codes)
    assert len(fast_batch) == count
    assert ids == batch.customer_ids == [None] * count
    assert dict(found) == dict(expected)
    assert bool(found) == (unusual and bool(expected))


@pytest.mark.parametrize("count", [1, 3])
def test_customer_ids_come_through(count: int) -> None:
    rows = [dict(EXAMPLE_INSTANCE, customerID=f"id-{i}") for i in range(count)]
    fast = encode_plain_rows(rows, SIGNATURE_INPUTS[ID_SIGNATURE])
    assert fast is not None and fast[2] == [f"id-{i}" for i in range(count)]
    for not_a_string in (7, None):  # the general path names it
        rows[-1]["customerID"] = not_a_string
        assert encode_plain_rows(rows, SIGNATURE_INPUTS[ID_SIGNATURE]) is None
        with pytest.raises(general.RequestError, match="customerID"):
            parse_request({"signature_name": ID_SIGNATURE, "instances": rows}, "tfserving", 100)


@pytest.mark.parametrize("change", [
    {"tenure": True}, {"tenure": "12"}, {"tenure": [12]}, {"tenure": None}, {"gender": "Unknown"},
    {"gender": 1}, {"gender": ["Male"]}, {"gender": {"b64": "TWFsZQ=="}}, {"TotalCharges": 1e39},
    {"TotalCharges": -1e39}, {"customerID": "x"},
    {"gender": "Yes"}, {"Contract": "DSL"}, {"PaymentMethod": "No internet service"},  # another feature's values
])
@pytest.mark.parametrize("count", [1, 20])
def test_anything_else_goes_to_the_general_path(change: dict[str, Any], count: int) -> None:
    rows = [dict(EXAMPLE_INSTANCE) for _ in range(count)]
    rows[-1] = dict(EXAMPLE_INSTANCE, **change)
    assert encode_plain_rows(rows, NAMES) is None


@pytest.mark.parametrize("rows", [[{}], [dict(EXAMPLE_INSTANCE), 3], [{k: 1 for k in range(19)}]])
def test_wrong_keys_and_non_objects_go_to_the_general_path(rows: list[Any]) -> None:
    assert encode_plain_rows(rows, NAMES) is None


def test_an_unknown_category_is_still_scored_and_counted_by_the_general_path() -> None:
    parsed = parse_request({"instances": [dict(EXAMPLE_INSTANCE, gender="Unknown")]}, "tfserving", 10)
    assert dict(parsed.unusual) == {("unknown_category", "gender"): 1}
