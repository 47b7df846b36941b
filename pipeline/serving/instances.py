"""Request validation from the feature schema, vectorised per column, into an encoded Batch.

Rules (the same as the CSV loader's, pipeline.training.data.validate_frame):
- each instance is an object with exactly the 19 features; `customerID` may be added and is
  kept in the prediction log (it lets later labels be joined back for retraining);
- numeric features are JSON numbers (true/false are not numbers), finite and inside
  schema.NUMERIC_RANGES, whole numbers where the schema says so;
- TotalCharges alone may also be text, because it is text in the public file: plain
  ASCII decimal text (schema.parse_number, the loader's rule: not "1_000", not "٣") is read
  as its number and a blank (" ") as 0, like the loader does. Other numeric
  features given as strings are a wrong type: a client sending "12" for tenure has a bug;
- categorical features are strings from schema.CATEGORICAL_VALUES, compared exactly.
The first problem found is reported as a RequestError naming the instance index and field.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import quote
from pipeline.training import schema

# The first customer of the public file, as a predict instance (docs, tests, smoke checks).
EXAMPLE_INSTANCE: dict[str, Any] = {
    "gender": "Female", "SeniorCitizen": 0, "Partner": "Yes", "Dependents": "No", "tenure": 1,
    "PhoneService": "No", "MultipleLines": "No phone service", "InternetService": "DSL",
    "OnlineSecurity": "No", "OnlineBackup": "Yes", "DeviceProtection": "No", "TechSupport": "No",
    "StreamingTV": "No", "StreamingMovies": "No", "Contract": "Month-to-month", "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check", "MonthlyCharges": 29.85, "TotalCharges": 29.85,
}
TEXT_NUMERIC = frozenset({"TotalCharges"})  # text in the public file
FEATURE_KEYS = frozenset(schema.FEATURES)
FEATURE_KEYS_WITH_ID = FEATURE_KEYS | {schema.ID_COLUMN}
BODY_KEYS = frozenset({"instances", "parameters"})
CODES: dict[str, dict[str, int]] = {
    name: {value: code for code, value in enumerate(values)}
    for name, values in schema.CATEGORICAL_VALUES.items()
}
VOCABULARIES: dict[str, np.ndarray] = {
    name: np.array(values, dtype=object) for name, values in schema.CATEGORICAL_VALUES.items()
}
_NUMBER_TYPES = frozenset({int, float})
_ID_TYPES = frozenset({str, type(None)})
_COLUMNS_OF = operator.itemgetter(*schema.NUMERIC_FEATURES, *schema.CATEGORICAL_FEATURES)
_SIZES = frozenset({len(FEATURE_KEYS), len(FEATURE_KEYS_WITH_ID)})
_QUOTE_LIMIT = 60


class RequestError(Exception):
    """A request the server refuses: HTTP status, machine code, one-line message, and where."""

    def __init__(self, status: int, code: str, message: str,
                 instance: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.instance = instance
        self.field = field

    def body(self) -> dict[str, Any]:
        """The JSON error document: {"error": {code, message, instance, field}}."""
        return {"error": {"code": self.code, "message": self.message,
                          "instance": self.instance, "field": self.field}}


@dataclass(frozen=True)
class Batch:
    """Validated instances: numbers in schema.NUMERIC_FEATURES order (n, 4) float64, and
    category codes (index into schema.CATEGORICAL_VALUES[f]) in CATEGORICAL_FEATURES order."""

    numeric: np.ndarray
    codes: np.ndarray
    customer_ids: list[str | None]

    def __len__(self) -> int:
        return len(self.numeric)


def validate_payload(payload: Any, max_instances: int) -> tuple[Batch, list[dict[str, Any]]]:
    """Check a parsed predict body; return the encoded batch and the instances."""
    instances = _instances_of(payload, max_instances)
    _check_keys(instances)
    try:
        columns = list(zip(*map(_COLUMNS_OF, instances), strict=True))
    except KeyError:  # a feature is missing although the instance has enough keys
        raise _first_key_error(instances) from None
    count = len(schema.NUMERIC_FEATURES)
    numeric = [_numeric_column(list(values), name)
               for values, name in zip(columns[:count], schema.NUMERIC_FEATURES, strict=True)]
    codes = [_category_column(values, name)
             for values, name in zip(columns[count:], schema.CATEGORICAL_FEATURES, strict=True)]
    return Batch(numeric=np.array(numeric, dtype=np.float64).T, codes=np.array(codes, dtype=np.intp).T,
                 customer_ids=_customer_ids(instances)), instances


def encode_frame(frame: pd.DataFrame) -> Batch:
    """Encode a frame already validated by pipeline.training.data.validate_frame."""
    numeric = frame[list(schema.NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
    codes = np.stack([pd.Categorical(frame[name], categories=list(values)).codes
                      for name, values in schema.CATEGORICAL_VALUES.items()], axis=1).astype(np.intp)
    if (codes < 0).any():
        raise ValueError("encode_frame needs a frame validated by pipeline.training.data.validate_frame")
    ids = frame[schema.ID_COLUMN].astype(str).tolist() if schema.ID_COLUMN in frame else [None] * len(frame)
    return Batch(numeric=numeric, codes=codes, customer_ids=ids)


def raw_features(batch: Batch) -> dict[str, np.ndarray]:
    """One array per raw feature, as the SavedModel signature takes them."""
    features: dict[str, np.ndarray] = {
        name: batch.numeric[:, column].astype(np.float32)
        for column, name in enumerate(schema.NUMERIC_FEATURES)
    }
    for column, name in enumerate(schema.CATEGORICAL_FEATURES):
        features[name] = VOCABULARIES[name][batch.codes[:, column]]
    return {name: features[name] for name in schema.FEATURES}


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """One batch holding the rows of several, in order."""
    return Batch(numeric=np.concatenate([b.numeric for b in batches]),
                 codes=np.concatenate([b.codes for b in batches]),
                 customer_ids=[i for b in batches for i in b.customer_ids])


def _instances_of(payload: Any, max_instances: int) -> list[Any]:
    if type(payload) is not dict:
        raise RequestError(400, "invalid_body", "the body must be a JSON object like "
                           '{"instances": [{feature: value, ...}], "parameters": {}}')
    extra = payload.keys() - BODY_KEYS
    if extra:
        name = sorted(map(str, extra))[0]
        raise RequestError(400, "unknown_field", f"unexpected top-level field {_quote(name)} "
                           "(expected instances and optionally parameters)", field=name)
    parameters = payload.get("parameters")
    if parameters is not None and type(parameters) is not dict:
        raise RequestError(400, "invalid_parameters", "parameters must be a JSON object",
                           field="parameters")
    instances = payload.get("instances")
    if type(instances) is not list:
        what = "is missing" if instances is None else "must be a list of objects"
        raise RequestError(400, "invalid_instances", f"instances {what}", field="instances")
    if not instances:
        raise RequestError(400, "empty_instances", "instances is empty (send at least one)",
                           field="instances")
    if len(instances) > max_instances:
        raise RequestError(413, "too_many_instances", f"{len(instances)} instances in one request; "
                           f"at most {max_instances} are accepted (split the request)",
                           field="instances")
    return instances


def _check_keys(instances: list[Any]) -> None:
    """Cheap whole-list checks; the exact keys are confirmed when columns are read."""
    if set(map(type, instances)) != {dict}:
        raise _first_key_error(instances)
    sizes = set(map(len, instances))
    if not sizes <= _SIZES or (len(FEATURE_KEYS_WITH_ID) in sizes
                               and not all(schema.ID_COLUMN in item for item in instances
                                           if len(item) == len(FEATURE_KEYS_WITH_ID))):
        raise _first_key_error(instances)


def _first_key_error(instances: list[Any]) -> RequestError:
    for index, instance in enumerate(instances):
        if type(instance) is not dict:
            return RequestError(400, "invalid_instance", f"instances[{index}] must be an object "
                                f"of feature values, got {type(instance).__name__}", instance=index)
        missing = [name for name in schema.FEATURES if name not in instance]
        if missing:
            return RequestError(400, "missing_feature", f"instances[{index}]: missing feature "
                                f"{missing[0]}", instance=index, field=missing[0])
        extra = sorted(str(key) for key in instance if key not in FEATURE_KEYS_WITH_ID)
        if extra:
            return RequestError(400, "unknown_feature", f"instances[{index}]: unexpected feature "
                                f"{_quote(extra[0])} (expected the Telco churn features)",
                                instance=index, field=extra[0])
    return RequestError(400, "invalid_instance", "instances do not match the feature schema")


def _numeric_column(values: list[Any], name: str) -> list[float]:
    # orjson never yields NaN or infinity, and _number refuses them, so min/max are exact.
    types = set(map(type, values))
    if not types <= _NUMBER_TYPES:
        values = [_number(v, index, name) for index, v in enumerate(values)]
        types = set(map(type, values))
    bounds = schema.NUMERIC_RANGES[name]
    if min(values) < bounds.low or max(values) > bounds.high or (
            bounds.integer and float in types and not all(v == int(v) for v in values)):
        raise _range_error(values, name)
    return values


def _range_error(values: list[float], name: str) -> RequestError:
    bounds = schema.NUMERIC_RANGES[name]
    index = next(i for i, v in enumerate(values)
                 if not bounds.low <= v <= bounds.high or (bounds.integer and v != int(v)))
    kind = "whole number" if bounds.integer else "number"
    return RequestError(400, "out_of_range", f"instances[{index}].{name}: {_quote(values[index])} is "
                        f"out of range (expected a {kind} from {bounds.low:g} to {bounds.high:g})",
                        instance=index, field=name)


def _number(value: Any, index: int, name: str) -> float:
    if type(value) is float or type(value) is int:
        return value
    if type(value) is str and name in TEXT_NUMERIC:
        if not value.strip():
            return 0.0  # the public file leaves TotalCharges blank for new customers
        number = schema.parse_number(value)  # the CSV loader's rule: not float()'s "1_000" or "٣"
        if number is not None:
            return number
    expected = "a JSON number (or plain decimal text)" if name in TEXT_NUMERIC else "a JSON number"
    raise RequestError(400, "wrong_type", f"instances[{index}].{name}: {_quote(value)} is not a "
                       f"number (expected {expected})", instance=index, field=name)


def _category_column(values: Sequence[Any], name: str) -> list[int]:
    try:  # only str keys: other types miss or are unhashable
        return list(map(CODES[name].__getitem__, values))
    except (KeyError, TypeError):
        raise _category_error(values, name) from None


def _category_error(values: Sequence[Any], name: str) -> RequestError:
    lookup = CODES[name]
    index = next(i for i, v in enumerate(values) if type(v) is not str or v not in lookup)
    allowed = ", ".join(schema.CATEGORICAL_VALUES[name])
    if type(values[index]) is not str:
        return RequestError(400, "wrong_type", f"instances[{index}].{name}: {_quote(values[index])} "
                            f"is not a string (expected one of {allowed})", instance=index, field=name)
    return RequestError(400, "unknown_category", f"instances[{index}].{name}: unknown value "
                        f"{_quote(values[index])} (expected one of {allowed})", instance=index, field=name)


def _customer_ids(instances: list[dict[str, Any]]) -> list[str | None]:
    ids = [item.get(schema.ID_COLUMN) for item in instances]
    if not set(map(type, ids)) <= _ID_TYPES:
        index = next(i for i, v in enumerate(ids) if type(v) not in _ID_TYPES)
        raise RequestError(400, "wrong_type", f"instances[{index}].{schema.ID_COLUMN} must be a string",
                           instance=index, field=schema.ID_COLUMN)
    return ids


def _quote(value: Any) -> str:
    return quote(value, _QUOTE_LIMIT)
