"""Predict request parsing, as TensorFlow Serving's REST API and Vertex AI take them.

Two protocols (pipeline.serving.app picks one per route):
- "tfserving" (/v1/models/{name}:predict and every :rawPredict, whose body Vertex passes to
  the container unchanged): {"signature_name"?, "instances": [rows]} or {"signature_name"?,
  "inputs": {name: [column]}}; other top-level keys are ignored, as TF Serving does.
- "vertex" (/v1/.../endpoints/{e}:predict): {"instances": [rows], "parameters"?: {}} and
  nothing else; the prebuilt container serves it with serving_default (Vertex does not pass
  a signature through :predict, so the ID signature is reached with :rawPredict).
Inside both, the rules of TF Serving's JSON decoding (tensorflow_serving/util/json_tensor.cc)
for the churn signatures: each instance has exactly the signature's inputs (a columnar
`inputs` object is only read for the signature's inputs, so other keys there are ignored);
float inputs take JSON numbers only (no "29.85", no " ", no true); string inputs take
strings or {"b64": ...}; a value may be a nested list, read as TF Serving reads a dense
tensor (pipeline.serving.tensors).
Where this server knows more than the SavedModel checks (a value outside the training
range, a category the vocabulary lacks) it scores the instance as the SavedModel would
(StringLookup's out-of-vocabulary slot) and reports it in `Parsed.unusual` for a counter.
The first problem found is a RequestError naming the instance index and field.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from pipeline.errors import quote
from pipeline.serving.batch import Batch as Batch
from pipeline.serving.batch import concat_batches as concat_batches
from pipeline.serving.rows import FLOAT32_MAX, encode_plain_rows
from pipeline.serving.tensors import TensorValueError, normalize_columns
from pipeline.training import schema

if TYPE_CHECKING:  # frames come from batch prediction and tests; the server starts without pandas
    import pandas as pd

# The first customer of the public file, as a predict instance (docs, tests, smoke checks).
EXAMPLE_INSTANCE: dict[str, Any] = {
    "gender": "Female", "SeniorCitizen": 0, "Partner": "Yes", "Dependents": "No", "tenure": 1,
    "PhoneService": "No", "MultipleLines": "No phone service", "InternetService": "DSL",
    "OnlineSecurity": "No", "OnlineBackup": "Yes", "DeviceProtection": "No", "TechSupport": "No",
    "StreamingTV": "No", "StreamingMovies": "No", "Contract": "Month-to-month", "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check", "MonthlyCharges": 29.85, "TotalCharges": 29.85,
}
DEFAULT_SIGNATURE = "serving_default"
ID_SIGNATURE = "with_customer_id"  # also takes customerID and echoes it, to join labels later
SIGNATURE_INPUTS: dict[str, tuple[str, ...]] = {
    DEFAULT_SIGNATURE: schema.FEATURES, ID_SIGNATURE: (*schema.FEATURES, schema.ID_COLUMN)}
PROTOCOLS = ("tfserving", "vertex")
VERTEX_BODY_KEYS = frozenset({"instances", "parameters"})
OOV = "[UNK]"  # what an unknown category is fed to the SavedModel as: its StringLookup OOV slot
CODES: dict[str, dict[str, int]] = {
    name: {value: code for code, value in enumerate(values)}
    for name, values in schema.CATEGORICAL_VALUES.items()
}
# Code len(values) is the out-of-vocabulary slot.
VOCABULARIES: dict[str, np.ndarray] = {
    name: np.array([*values, OOV], dtype=object) for name, values in schema.CATEGORICAL_VALUES.items()
}
_NUMBER_TYPES = frozenset({int, float})
_QUOTE_LIMIT = 60
Locate = Callable[[int, str], str]


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
        """The JSON error document of the non-predict routes: {"error": {code, message, instance, field}}."""
        return {"error": {"code": self.code, "message": self.message,
                          "instance": self.instance, "field": self.field}}


_STRING_INPUTS = frozenset((*schema.CATEGORICAL_FEATURES, schema.ID_COLUMN))


class Parsed(NamedTuple):
    """One parsed predict request (a NamedTuple: built for every request, at about half a
    frozen dataclass's cost)."""

    batch: Batch
    instances: list[dict[str, Any]]  # row form, as logged
    signature: str
    columnar: bool
    unusual: Mapping[tuple[str, str], int] = MappingProxyType({})  # (kind, feature) -> instances
    logged_rows: list[tuple[Any, ...]] | None = None  # the values as logged, when the fast path has them


def parse_request(payload: Any, protocol: str, max_instances: int) -> Parsed:
    """Check a parsed predict body under `protocol` ("tfserving" or "vertex")."""
    if type(payload) is not dict:
        raise RequestError(400, "invalid_body", 'the body must be a JSON object like {"instances": '
                           "[{feature: value, ...}]}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: expected one of {PROTOCOLS}")
    signature = _vertex_signature(payload) if protocol == "vertex" else _tfserving_signature(payload)
    names = SIGNATURE_INPUTS[signature]
    columnar = protocol == "tfserving" and "inputs" in payload
    if columnar:
        columns, instances, locate = _as_tensors(_columns_of_inputs(payload["inputs"], names), names, True, [])
        _check_count(len(instances), max_instances, "inputs")
        batch, unusual = _encode(columns, locate)
        return Parsed(batch, instances, signature, columnar, unusual)
    instances = _instances_of(payload, max_instances)
    plain = encode_plain_rows(instances, names)
    if plain is not None:  # the usual request; else the general path below names the problem
        numeric, codes, ids, found, logged = plain
        return Parsed(plain_batch(numeric, codes, ids), instances, signature, False, found, logged)
    raw = _columns_of_rows(instances, names)
    try:  # scalars only, no extra pass over the values
        batch, unusual = _encode(dict(zip(names, raw, strict=True)), _row_place)
    except RequestError as exc:
        if exc.code != "wrong_type":
            raise
        # a list or an object where a scalar was expected: read the values as TF Serving
        # reads tensors, then check them again (a real type error comes back)
        columns, instances, locate = _as_tensors(raw, names, False, instances)
        batch, unusual = _encode(columns, locate)
    _check_count(len(batch), max_instances, "instances")
    return Parsed(batch, instances, signature, columnar, unusual)


def _as_tensors(raw: list[Any], names: tuple[str, ...], columnar: bool, instances: list[Any]
                ) -> tuple[dict[str, Sequence[Any]], list[Any], Locate]:
    """Columns of scalars (nested lists and {"b64": ...} strings read as TF Serving reads
    tensors: pipeline.serving.tensors), the rows they make, as logged, and how to name a value."""
    locate: Locate = _column_place if columnar else _row_place
    try:
        columns, changed = normalize_columns(dict(zip(names, raw, strict=True)), _STRING_INPUTS, columnar, locate)
    except TensorValueError as exc:
        raise RequestError(400, "invalid_tensor", exc.message, instance=exc.instance, field=exc.field) from None
    if columnar or changed:
        count = len(columns[names[0]])
        if not columnar and count != len(instances):
            locate = _value_place
        instances = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return columns, instances, locate


def plain_batch(numeric: np.ndarray | list[Any], codes: np.ndarray | list[Any], ids: list[Any]) -> Batch:
    """The Batch of what rows.encode_plain_rows gives: arrays, or one instance's rows."""
    if isinstance(numeric, list) and isinstance(codes, list):
        return Batch.of_rows(numeric, codes, ids)
    return Batch(np.asarray(numeric), np.asarray(codes), ids)


def validate_payload(payload: Any, max_instances: int) -> tuple[Batch, list[dict[str, Any]]]:
    """A TF Serving body checked (see parse_request): the encoded batch and the instances."""
    parsed = parse_request(payload, "tfserving", max_instances)
    return parsed.batch, parsed.instances


def encode_frame(frame: pd.DataFrame) -> Batch:
    """Encode a frame already validated by pipeline.training.data.validate_frame."""
    from pipeline.training.data import category_codes  # pandas: loaded here, not with the server

    numeric = frame[list(schema.NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
    codes = category_codes(frame).astype(np.intp)
    if (codes < 0).any():
        raise ValueError("encode_frame needs a frame validated by pipeline.training.data.validate_frame")
    ids = frame[schema.ID_COLUMN].astype(str).tolist() if schema.ID_COLUMN in frame else [None] * len(frame)
    return Batch(numeric=numeric, codes=codes, customer_ids=ids)


def raw_features(batch: Batch) -> dict[str, np.ndarray]:
    """One array per raw feature, as the SavedModel signature takes them (an unknown
    category as OOV, which the StringLookup maps to its out-of-vocabulary slot)."""
    features: dict[str, np.ndarray] = {
        name: batch.numeric[:, column].astype(np.float32)
        for column, name in enumerate(schema.NUMERIC_FEATURES)
    }
    for column, name in enumerate(schema.CATEGORICAL_FEATURES):
        features[name] = VOCABULARIES[name][batch.codes[:, column]]
    return {name: features[name] for name in schema.FEATURES}


def _vertex_signature(payload: dict[str, Any]) -> str:
    extra = payload.keys() - VERTEX_BODY_KEYS
    if extra:
        name = sorted(map(str, extra))[0]
        hint = (" (Vertex :predict always uses serving_default; send signature_name to :rawPredict)"
                if name == "signature_name" else "")
        raise RequestError(400, "unknown_field", f"Invalid JSON payload received. Unknown name "
                           f"{_quote(name)}: expected instances and optionally parameters{hint}", field=name)
    parameters = payload.get("parameters")
    if parameters is not None and type(parameters) is not dict:
        raise RequestError(400, "invalid_parameters", "parameters must be a JSON object", field="parameters")
    return DEFAULT_SIGNATURE


def _tfserving_signature(payload: dict[str, Any]) -> str:
    name = payload.get("signature_name", DEFAULT_SIGNATURE)
    if type(name) is not str:
        raise RequestError(400, "invalid_signature", f"JSON Value: {_quote(name)} not formatted correctly. "
                           "'signature_name' key must be a string value.", field="signature_name")
    name = name or DEFAULT_SIGNATURE  # TF Serving reads "" as the default signature
    if name not in SIGNATURE_INPUTS:
        raise RequestError(400, "unknown_signature", f"Serving signature name: {_quote(name)} not found in "
                           f"signature def (signatures: {', '.join(SIGNATURE_INPUTS)})", field="signature_name")
    if "inputs" in payload and "instances" in payload:
        raise RequestError(400, "invalid_body", "Not formatted correctly expecting only one of 'inputs' or "
                           "'instances' keys to exist", field="instances")
    if "inputs" not in payload and "instances" not in payload:
        raise RequestError(400, "invalid_instances", "Missing 'inputs' or 'instances' key", field="instances")
    return name


def _instances_of(payload: dict[str, Any], max_instances: int) -> list[Any]:
    instances = payload.get("instances")
    if type(instances) is not list:
        what = "is missing" if instances is None else "must be a list of objects"
        raise RequestError(400, "invalid_instances", f"instances {what}", field="instances")
    if not instances:
        raise RequestError(400, "empty_instances", "No values in 'instances' array (send at least one)",
                           field="instances")
    _check_count(len(instances), max_instances, "instances")
    return instances


def _check_count(count: int, max_instances: int, where: str) -> None:
    if count > max_instances:
        raise RequestError(413, "too_many_instances", f"{count} instances in one request; at most "
                           f"{max_instances} are accepted (split the request)", field=where)


def _columns_of_rows(instances: list[Any], names: tuple[str, ...]) -> list[Sequence[Any]]:
    """Per input, the values of every instance; the keys of each must be exactly `names`."""
    if set(map(type, instances)) != {dict} or set(map(len, instances)) != {len(names)}:
        raise _first_key_error(instances, names)
    try:
        columns: list[Sequence[Any]] = list(zip(*map(operator.itemgetter(*names), instances), strict=True))
    except KeyError:  # the right number of keys, not the right ones
        raise _first_key_error(instances, names) from None
    return columns


def _first_key_error(instances: list[Any], names: tuple[str, ...]) -> RequestError:
    for index, instance in enumerate(instances):
        if type(instance) is not dict:
            return RequestError(400, "invalid_instance", f"instances[{index}] must be an object of "
                                f"feature values, got {type(instance).__name__}", instance=index)
        missing = [name for name in names if name not in instance]
        if missing:
            return RequestError(400, "missing_feature", f"instances[{index}]: missing named input "
                                f"{missing[0]}", instance=index, field=missing[0])
        extra = sorted(str(key) for key in instance if key not in names)
        if extra:
            hint = (f" (send it with signature_name {ID_SIGNATURE!r} to the TF Serving route or :rawPredict)"
                    if extra[0] == schema.ID_COLUMN else "")
            return RequestError(400, "unknown_feature", f"instances[{index}]: JSON object: does not have "
                                f"named input: {_quote(extra[0])}{hint}", instance=index, field=extra[0])
    return RequestError(400, "invalid_instance", "instances do not match the signature's inputs")


def _columns_of_inputs(inputs: Any, names: tuple[str, ...]) -> list[Any]:
    """Each input's whole value (json_tensor.cc FillTensorMapFromInputsMap: only the
    signature's inputs are looked up, so other keys are not read)."""
    if type(inputs) is not dict or (len(inputs) == 1 and type(inputs.get("b64")) is str):
        raise RequestError(400, "invalid_inputs", "inputs is a plain value/list, but expecting an object "
                           "as multiple input tensors required", field="inputs")
    for name in names:
        if name not in inputs:
            raise RequestError(400, "missing_feature", f"Missing named input: {name} in 'inputs' object.",
                               field=name)
    return [inputs[name] for name in names]


def _row_place(index: int, name: str) -> str:
    return f"instances[{index}].{name}"


def _column_place(index: int, name: str) -> str:
    return f"inputs.{name}[{index}]"


def _value_place(index: int, name: str) -> str:  # rows whose values were lists of several values
    return f"value {index} of {name}"


def _encode(columns: dict[str, Sequence[Any]], locate: Locate) -> tuple[Batch, Counter]:
    unusual: Counter = Counter()
    numeric = [_numeric_column(list(columns[name]), name, locate, unusual) for name in schema.NUMERIC_FEATURES]
    codes = [_category_column(columns[name], name, locate, unusual) for name in schema.CATEGORICAL_FEATURES]
    ids = columns.get(schema.ID_COLUMN)
    return Batch(numeric=np.array(numeric, dtype=np.float64).T, codes=np.array(codes, dtype=np.intp).T,
                 customer_ids=_customer_ids(ids, locate) if ids is not None else [None] * len(numeric[0])), unusual


def _numeric_column(values: list[Any], name: str, locate: Locate, unusual: Counter) -> list[float]:
    # A float32 input takes JSON numbers only (json_tensor.cc: "is not of expected type: float").
    if not set(map(type, values)) <= _NUMBER_TYPES:
        index = next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
        raise RequestError(400, "wrong_type", f"{locate(index, name)}: JSON Value: {_quote(values[index])} "
                           f"Type: {_json_type(values[index])} is not of expected type: float (send a JSON "
                           "number)", instance=index, field=name)
    # orjson never yields NaN or infinity; beyond float32 the model would see infinity.
    if values and (max(values) > FLOAT32_MAX or min(values) < -FLOAT32_MAX):
        index = next(i for i, v in enumerate(values) if not -FLOAT32_MAX <= v <= FLOAT32_MAX)
        raise RequestError(400, "out_of_range", f"{locate(index, name)}: {_quote(values[index])} does not "
                           "fit a float32", instance=index, field=name)
    bounds = schema.NUMERIC_RANGES[name]
    outside = sum(1 for v in values if not bounds.low <= v <= bounds.high
                  or (bounds.integer and v != int(v)))
    if outside:  # scored like the SavedModel does; counted so drift shows
        unusual["out_of_range", name] += outside
    return values


def _category_column(values: Sequence[Any], name: str, locate: Locate, unusual: Counter) -> list[int]:
    lookup = CODES[name]
    try:  # only str keys: other types miss or are unhashable
        return list(map(lookup.__getitem__, values))
    except (KeyError, TypeError):
        pass
    wrong = next((i for i, v in enumerate(values) if type(v) is not str), None)
    if wrong is not None:
        raise RequestError(400, "wrong_type", f"{locate(wrong, name)}: JSON Value: {_quote(values[wrong])} "
                           f"Type: {_json_type(values[wrong])} is not of expected type: string",
                           instance=wrong, field=name)
    oov = len(schema.CATEGORICAL_VALUES[name])
    codes = [lookup.get(v, oov) for v in values]
    unusual["unknown_category", name] += codes.count(oov)
    return codes


def _customer_ids(ids: Sequence[Any], locate: Locate) -> list[str | None]:
    wrong = next((i for i, v in enumerate(ids) if type(v) is not str), None)
    if wrong is not None:
        raise RequestError(400, "wrong_type", f"{locate(wrong, schema.ID_COLUMN)}: JSON Value: "
                           f"{_quote(ids[wrong])} Type: {_json_type(ids[wrong])} is not of expected type: "
                           "string", instance=wrong, field=schema.ID_COLUMN)
    return list(ids)


def _json_type(value: Any) -> str:
    return {bool: "Bool", int: "Number", float: "Number", str: "String", list: "Array",
            dict: "Object", type(None): "Null"}.get(type(value), type(value).__name__)


def _quote(value: Any) -> str:
    return quote(value, _QUOTE_LIMIT)
