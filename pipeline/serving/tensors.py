"""Input values as TensorFlow Serving turns JSON into tensors (tensorflow_serving/util/
json_tensor.cc), for the values that are not plain scalars:

- A value may be a nested list: TF Serving reads it as a dense tensor (its shape taken along
  the first elements, every leaf at the same depth, every list as long as its siblings), and
  in the row format every instance must give an input the same shape. The churn SavedModel
  reshapes each input to one value per row, so `[29.85]` or `[[29.85]]` scores like `29.85`,
  and in the columnar format a scalar is one row. Inputs with different numbers of values
  cannot be scored together (the graph's concat fails: a 400).
- A string input may be sent as {"b64": "<base64>"} (TF Serving's binary encoding); it is
  decoded to the string it holds.

`normalize_columns` applies both to the columns of a request and says whether it changed
anything, so the caller can log what the model saw.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from pipeline.errors import quote

Locate = Callable[[int, str], str]
_QUOTE_LIMIT = 60


class TensorValueError(ValueError):
    """A value TF Serving cannot read as a tensor; pipeline.serving.instances answers it as a 400."""

    def __init__(self, message: str, instance: int | None, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.instance = instance
        self.field = field


def _error(message: str, instance: int | None, field: str) -> TensorValueError:
    return TensorValueError(message, instance, field)


def normalize_columns(columns: dict[str, Sequence[Any]], string_inputs: frozenset[str], columnar: bool,
                      locate: Locate) -> tuple[dict[str, Sequence[Any]], bool]:
    """Flat columns of scalar values (b64 decoded) and whether any value was not one already.
    Row columns hold one value per instance; a columnar column is the input's whole value."""
    plain = not columnar or all(type(column) is list for column in columns.values())
    if plain:  # the usual request: one pass over every value finds no list and no object
        kinds = set(map(type, chain.from_iterable(columns.values())))
        if list not in kinds and dict not in kinds:  # row columns hold one value per instance
            return (_same_sizes(columns) if columnar else columns), False
    changed = False
    flat: dict[str, Sequence[Any]] = {}
    for name, column in columns.items():
        if columnar:
            values: Sequence[Any] = dense_leaves(column, f"inputs.{name}", None, name)[1]
            changed = changed or type(column) is not list or any(type(v) is list for v in column)
        elif list in set(map(type, column)):
            values, changed = _row_leaves(column, name, locate), True
        else:
            values = column
        if name in string_inputs and dict in set(map(type, values)):
            values, changed = [_decode_b64(v, i, name, locate) for i, v in enumerate(values)], True
        flat[name] = values
    return _same_sizes(flat), changed


def _same_sizes(columns: dict[str, Sequence[Any]]) -> dict[str, Sequence[Any]]:
    """The columns, if every input has as many values as the others."""
    sizes = {name: len(values) for name, values in columns.items()}
    if len(set(sizes.values())) > 1:
        (small, few), (large, many) = min(sizes.items(), key=_count), max(sizes.items(), key=_count)
        raise _error(f"{large} holds {many} values but {small} holds {few}: the model scores one value of "
                     "each input per row", None, large)
    return columns


def _count(item: tuple[str, int]) -> int:
    return item[1]


def _row_leaves(column: Sequence[Any], name: str, locate: Locate) -> list[Any]:
    """The leaves of every instance's value, which must all have one shape (AddInstanceItem)."""
    leaves: list[Any] = []
    first: list[int] | None = None
    for index, value in enumerate(column):
        shape, values = dense_leaves(value, locate(index, name), index, name)
        if first is None:
            first = shape
        elif shape != first:
            raise _error(f"{locate(index, name)}: Expecting shape {_shape(first)} but got: {_shape(shape)} "
                         f"(every instance must give {name} the same shape)", index, name)
        leaves.extend(values)
    return leaves


def dense_leaves(value: Any, where: str, instance: int | None, field: str) -> tuple[list[int], list[Any]]:
    """(shape, leaves in row-major order) of a JSON value read as a dense tensor
    (GetDenseTensorShape and FillTensorProto)."""
    shape: list[int] = []
    probe = value
    while type(probe) is list:
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    leaves: list[Any] = []
    _fill(value, 0, shape, leaves, where, instance, field)
    return shape, leaves


def _fill(value: Any, level: int, shape: list[int], out: list[Any], where: str, instance: int | None,
          field: str) -> None:
    if type(value) is not list:
        if level != len(shape):
            raise _error(f"{where}: JSON Value: {quote(value, _QUOTE_LIMIT)} found at incorrect level: "
                         f"{level + 1} in the JSON DOM. Expected at level: {len(shape)}", instance, field)
        out.append(value)
        return
    if level >= len(shape):
        raise _error(f"{where}: Encountered list at unexpected level: {level} expected < {len(shape)}",
                     instance, field)
    if len(value) != shape[level]:
        raise _error(f"{where}: Encountered list at unexpected size: {len(value)} at level: {level} "
                     f"expected size: {shape[level]}", instance, field)
    for item in value:
        _fill(item, level + 1, shape, out, where, instance, field)


def _decode_b64(value: Any, index: int, name: str, locate: Locate) -> Any:
    """{"b64": "..."} -> the decoded string; any other value unchanged (its type is checked later)."""
    if type(value) is not dict:
        return value
    encoded = value.get("b64")
    if len(value) != 1 or type(encoded) is not str:
        raise _error(f"{locate(index, name)}: JSON Value: {quote(value, _QUOTE_LIMIT)} not formatted correctly "
                     "for base64 data", index, name)
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        raise _error(f"{locate(index, name)}: Unable to base64 decode", index, name) from None


def _shape(shape: list[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"
