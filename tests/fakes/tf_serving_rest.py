"""TensorFlow Serving's REST predict API over a loaded SavedModel: the twin the parity test
compares the local server with. Written from TF Serving's own documentation and source,
independently of pipeline.serving (nothing here imports it):

  [doc]   tensorflow_serving/g3doc/api_rest.md ("Predict API", "JSON mapping")
  [json]  tensorflow_serving/util/json_tensor.cc (FillPredictRequestFromJson,
          MakeJsonFromTensors, WriteDecimal, MakeJsonFromStatus)
  [http]  tensorflow_serving/model_servers/http_rest_api_handler.cc (GetInfoMap) and
          http_server.cc (ToHTTPStatusCode: INVALID_ARGUMENT and FAILED_PRECONDITION -> 400)

Each branch below names the rule it follows. Messages are TF Serving's own strings, so a
client that greps them sees the same text. The graph runs through TensorFlow's Python
runtime (the loaded signature function) rather than TF Serving's C++ session: like TF
Serving, it feeds the tensors as parsed, whatever their rank, and what the graph's ops refuse
(e.g. inputs with different numbers of values meeting in a concat) is a 400 carrying
TensorFlow's own message, which differs in wording from the C++ runtime's.

`TFServingModel(directory).predict(body)` -> (HTTP status, response body bytes).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

DEFAULT_SIGNATURE = "serving_default"  # kDefaultServingSignatureDefKey
DEBUG_LIMIT = 256  # [json] kMaxJsonDebugStringBytes: error messages truncate JSON values
# [json] DataTypeString() names, as TF Serving's type errors print them.
TYPE_NAMES = {tf.float32: "float", tf.float64: "double", tf.int32: "int32", tf.int16: "int16",
              tf.int8: "int8", tf.uint8: "uint8", tf.int64: "int64", tf.uint32: "uint32",
              tf.uint64: "uint64", tf.string: "string", tf.bool: "bool"}
INT32, INT64, UINT32, UINT64 = (2**31, 2**63, 2**32, 2**64)


class ServingError(Exception):
    """A non-OK absl::Status: its code name and message."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:  # absl::Status::ToString(), used when one error wraps another
        return f"{self.code}: {self.args[0]}"


# ---- [json] diagnostics ----------------------------------------------------------------
def debug_string(value: Any) -> str:
    """JsonValueToDebugString: compact JSON, truncated to 256 bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:DEBUG_LIMIT]


def json_type(value: Any) -> str:
    """JsonTypeString."""
    if value is None:
        return "Null"
    if value is True or value is False:
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def type_error(value: Any, dtype: tf.DType) -> ServingError:
    return ServingError(f"JSON Value: {debug_string(value)} Type: {json_type(value)} "
                        f"is not of expected type: {TYPE_NAMES.get(dtype, dtype.name)}")


def format_error(document: Any, *parts: str) -> ServingError:
    return ServingError(f"JSON Value: {debug_string(document)} {''.join(parts)}")


# ---- [json] JSON value -> tensor values --------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_b64(value: Any) -> bool:
    """IsValBase64Object: an object with exactly one key, "b64", holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def leaf_value(value: Any, dtype: tf.DType) -> Any:
    """AddValueToTensor ([doc] "JSON mapping"): floats take any JSON number (a string such
    as "29.85" is a type error), integer types need JSON integers in range, strings need
    JSON strings or {"b64": ...}, bools need true/false."""
    if isinstance(value, dict):
        if dtype != tf.string:
            raise type_error(value, dtype)
        if not is_b64(value):  # JsonDecodeBase64Object
            raise ServingError(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise ServingError("Unable to base64 decode") from None
    integer = isinstance(value, int) and not isinstance(value, bool)
    accepted = {
        tf.float32: is_number(value), tf.float64: is_number(value),
        tf.int32: integer and -INT32 <= value < INT32, tf.int16: integer and -INT32 <= value < INT32,
        tf.int8: integer and -INT32 <= value < INT32, tf.uint8: integer and -INT32 <= value < INT32,
        tf.int64: integer and -INT64 <= value < INT64, tf.uint32: integer and 0 <= value < UINT32,
        tf.uint64: integer and 0 <= value < UINT64,
        tf.string: isinstance(value, str), tf.bool: isinstance(value, bool),
    }
    if dtype not in accepted:
        raise ServingError(f"Conversion of JSON Value: {debug_string(value)} to type: {dtype.name}",
                           "UNIMPLEMENTED")
    if not accepted[dtype]:
        raise type_error(value, dtype)
    return value.encode("utf-8") if dtype == tf.string else value


def dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: the shape read along the first element of each nested list."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def fill_values(value: Any, level: int, shape: list[int], dtype: tf.DType, out: list[Any]) -> None:
    """FillTensorProto: every leaf at depth == rank, every list as long as the shape says."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError(f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} "
                               f"in the JSON DOM. Expected at level: {rank}")
        out.append(leaf_value(value, dtype))
        return
    if level >= rank:
        raise ServingError(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise ServingError(f"Encountered list at unexpected size: {len(value)} at level: {level} "
                           f"expected size: {shape[level]}")
    for item in value:
        fill_values(item, level + 1, shape, dtype, out)


def to_tensor(value: Any, dtype: tf.DType) -> tuple[list[int], list[Any]]:
    shape, values = dense_shape(value), []  # type: list[int], list[Any]
    fill_values(value, 0, shape, dtype, values)
    return shape, values


def shape_text(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


# ---- [json] request body -> named input tensors -------------------------------------------
def parse_body(body: bytes) -> dict[str, Any]:
    """ParseJson: NaN and Infinity tokens are accepted ([doc] "JSON conformance"); the
    document must be an object."""
    if not body:
        raise ServingError("JSON Parse error: The document is empty")
    try:  # kParseStopWhenDoneFlag: parsing stops after the document; trailing bytes are not read
        document, _ = json.JSONDecoder().raw_decode(body.decode("utf-8").lstrip(" \t\n\r"))
    except ValueError as error:
        raise ServingError(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise format_error(document, "Is not object")
    return document


def row_inputs(document: dict[str, Any], inputs: dict[str, tf.TensorSpec]) -> dict[str, Any]:
    """FillTensorMapFromInstancesList ([doc] "row format"): one object per instance holding
    exactly the signature's inputs (a missing or an extra key is a 400), or bare values when
    the signature has one input; all instances of an input share one shape."""
    instances = document["instances"]
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise ServingError("instances is a plain list, but expecting list of objects as multiple "
                           "input tensors required as per tensorinfo_map")
    objects = isinstance(instances[0], dict) and not is_b64(instances[0])
    names = sorted(inputs)
    columns: dict[str, list[Any]] = {}
    shapes: dict[str, list[int]] = {}
    for index, instance in enumerate(instances):
        is_object = isinstance(instance, dict) and not is_b64(instance)
        if objects and not is_object:
            raise ServingError(f"Expecting object but got list at item {index} of input list")
        if not objects and is_object:
            raise ServingError(f"Expecting value/list but got object at item {index} of input list")
        items = instance.items() if objects else [(names[0], instance)]
        for name, value in items:
            try:
                add_instance_item(name, value, inputs, columns, shapes)
            except ServingError as error:
                key = f" key: {name}" if objects else ""
                raise ServingError(f"Failed to process element: {index}{key} of 'instances' list. "
                                   f"Error: {error}") from None
        if objects and set(instance) != set(names):
            raise ServingError(f"Failed to process element: {index} of 'instances' list. JSON object: "
                               f"{debug_string(instance)} keys must be equal to: {','.join(names)}")
    return {name: (values, [len(instances), *shapes[name]]) for name, values in columns.items()}


def add_instance_item(name: str, value: Any, inputs: dict[str, tf.TensorSpec],
                      columns: dict[str, list[Any]], shapes: dict[str, list[int]]) -> None:
    """AddInstanceItem: the key must be a signature input; its shape must match earlier rows."""
    if name not in inputs:
        raise ServingError(f"JSON object: does not have named input: {name}")
    shape, values = to_tensor(value, inputs[name].dtype)
    if name not in shapes:
        shapes[name] = shape
    elif math.prod(shapes[name]) != len(values):
        raise ServingError(f"Expecting tensor size: {math.prod(shapes[name])} but got: {len(values)}")
    elif shapes[name] != shape:
        raise ServingError(f"Expecting shape {shape_text(shapes[name])} but got: {shape_text(shape)}")
    columns.setdefault(name, []).extend(values)


def columnar_inputs(document: dict[str, Any], inputs: dict[str, tf.TensorSpec]) -> dict[str, Any]:
    """FillTensorMapFromInputsMap ([doc] "column format"): a bare value/list for a signature
    with one input, else an object naming every input. Only the signature's inputs are read:
    a missing one is a 400, an extra key is not looked at (TF Serving's parser only looks up
    the signature's names, so it never sees it)."""
    value = document["inputs"]
    if not isinstance(value, dict) or is_b64(value):
        if len(inputs) > 1:
            raise ServingError("inputs is a plain value/list, but expecting an object as multiple "
                               "input tensors required as per tensorinfo_map")
        name = next(iter(inputs))
        shape, values = to_tensor(value, inputs[name].dtype)
        return {name: (values, shape)}
    tensors = {}
    for name in sorted(inputs):
        if name not in value:
            raise ServingError(f"Missing named input: {name} in 'inputs' object.")
        shape, values = to_tensor(value[name], inputs[name].dtype)
        tensors[name] = (values, shape)
    return tensors


def request_tensors(document: dict[str, Any], inputs: dict[str, tf.TensorSpec]) -> tuple[str, dict[str, Any]]:
    """FillPredictRequestFromJson: exactly one of "instances" (non-empty list) or "inputs".
    Other top-level keys are not read."""
    has_rows, has_columns = "instances" in document, "inputs" in document
    if has_rows and has_columns:
        raise format_error(document, "Not formatted correctly expecting only one of 'inputs' or "
                           "'instances' keys to exist ")
    if has_rows:
        if not isinstance(document["instances"], list):
            raise format_error(document, "Expecting 'instances' to be an list/array")
        if not document["instances"]:
            raise format_error(document, "No values in 'instances' array")
        return "row", row_inputs(document, inputs)
    if has_columns:
        return "columnar", columnar_inputs(document, inputs)
    raise ServingError("Missing 'inputs' or 'instances' key")


# ---- [json] output tensors -> response body ------------------------------------------------
def write_decimal(value: float, dtype: np.dtype) -> str:
    """WriteDecimal: absl::StrCat (printf %g, six digits) if that round-trips in the
    tensor's own type, else max_digits10 digits (9 for float32, 17 for double); ".0"
    appended to whole numbers; NaN / Infinity / -Infinity tokens."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{float(value):g}"  # printf %g, as absl::StrCat writes a float
    if dtype.type(float(text)) != value:
        text = f"{float(value):.{9 if dtype == np.float32 else 17}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def write_value(value: Any, dtype: np.dtype, as_bytes: bool) -> str:
    """AddSingleValueAndAdvance: one tensor element as JSON text."""
    if dtype.kind == "f":
        return write_decimal(float(value), dtype)
    if dtype.kind == "b":
        return "true" if value else "false"
    if dtype.kind in "iu":
        return str(int(value))
    if as_bytes:  # [doc] "Output of binary values": *_bytes string tensors come as {"b64": ...}
        return '{"b64": ' + json.dumps(base64.b64encode(value).decode("ascii")) + "}"
    return json.dumps(value.decode("utf-8", errors="replace"), ensure_ascii=False)


def write_tensor(array: np.ndarray, as_bytes: bool) -> str:
    """AddTensorValues: nested lists for the dimensions, a bare value for a scalar."""
    if array.ndim == 0:
        return write_value(array.item(), array.dtype, as_bytes)
    # array[i, ...] keeps a 0-d array (with its dtype) where array[i] would give a scalar
    return "[" + ", ".join(write_tensor(array[i, ...], as_bytes) for i in range(len(array))) + "]"


def response_body(outputs: dict[str, np.ndarray], layout: str) -> str:
    """MakeRowFormatJsonFromTensors / MakeColumnarFormatJsonFromTensors ([doc] "Response
    format"): a signature with one output omits its name; with several, rows are objects
    keyed by output name (columnar: one object of whole tensors)."""
    names = sorted(outputs)
    as_bytes = {name: outputs[name].dtype.kind == "O" and name.endswith("_bytes") for name in names}
    named = len(names) > 1
    if layout == "columnar":
        parts = [write_tensor(outputs[name], as_bytes[name]) for name in names]
        if named:
            fields = ", ".join(f"{json.dumps(n)}: {p}" for n, p in zip(names, parts, strict=True))
            return '{"outputs": {' + fields + "}}"
        return '{"outputs": ' + parts[0] + "}"
    batch = None
    for name in names:
        if outputs[name].ndim == 0:
            raise ServingError(f"Tensor name: {name} has no shape information ")
        if batch is not None and outputs[name].shape[0] != batch:
            raise ServingError(f"Tensor name: {name} has inconsistent batch size: {outputs[name].shape[0]} "
                               f"expecting: {batch}")
        batch = outputs[name].shape[0]
    rows = []
    for row in range(batch or 0):
        cells = [write_tensor(outputs[name][row, ...], as_bytes[name]) for name in names]
        rows.append("{" + ", ".join(f"{json.dumps(n)}: {c}" for n, c in zip(names, cells, strict=True)) + "}"
                    if named else cells[0])
    return '{"predictions": [' + ", ".join(rows) + "]}"


def error_response(error: ServingError) -> tuple[int, bytes]:
    """MakeJsonFromStatus + ToHTTPStatusCode: {"error": message}; INVALID_ARGUMENT and
    FAILED_PRECONDITION are 400, NOT_FOUND 404, UNIMPLEMENTED 501, anything else 500."""
    status = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
              "UNIMPLEMENTED": 501}.get(error.code, 500)
    return status, json.dumps({"error": error.args[0]}, ensure_ascii=False).encode("utf-8")


def to_array(values: list[Any], shape: list[int], dtype: tf.DType) -> np.ndarray:
    """The tensor's values; a number beyond float32 becomes infinity, as rapidjson's
    GetFloat() makes it ([doc] "Floating Point Precision": the conversion is silent)."""
    if dtype == tf.string:
        return np.array(values, dtype=object).reshape(shape)
    with np.errstate(over="ignore"):
        return np.array(values, dtype=dtype.as_numpy_dtype).reshape(shape)


class TFServingModel:
    """One loaded SavedModel answering TF Serving's :predict."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = str(directory)
        self.signatures = tf.saved_model.load(self.directory).signatures

    def predict(self, body: bytes) -> tuple[int, bytes]:
        try:
            return 200, self.answer(parse_body(body)).encode("utf-8")
        except ServingError as error:
            return error_response(error)

    def answer(self, document: dict[str, Any]) -> str:
        name = document.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(name, str):  # FillSignature
            raise format_error(document, "not formatted correctly. 'signature_name' key must be a string value.")
        name = name or DEFAULT_SIGNATURE  # an empty name means the default signature
        if name not in self.signatures:  # [http] GetInfoMap
            raise ServingError(f'Serving signature name: "{name}" not found in signature def')
        function = self.signatures[name]
        inputs: dict[str, tf.TensorSpec] = function.structured_input_signature[1]
        layout, tensors = request_tensors(document, inputs)
        feeds = {key: tf.constant(to_array(values, shape, inputs[key].dtype), dtype=inputs[key].dtype)
                 for key, (values, shape) in tensors.items()}
        try:
            outputs = function(**feeds)
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
            # The graph (or the signature function, for tensors it cannot take) rejects them:
            # TF Serving passes the runtime's INVALID_ARGUMENT on as a 400.
            raise ServingError(" ".join(str(error).split())[:1000]) from None
        return response_body({key: value.numpy() for key, value in outputs.items()}, layout)
