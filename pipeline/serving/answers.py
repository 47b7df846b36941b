"""Answer bodies as TF Serving's REST API and Vertex AI write them.

TF Serving (tensorflow_serving/util/json_tensor.cc): a row request is answered
{"predictions": [...]} with one value per instance when the signature has one output and
one object per instance keyed by output name when it has several; a columnar request
({"inputs": ...}) is answered {"outputs": ...}, a value or an object of outputs likewise.
Floats are float32 values printed with %g, or %.9g when %g does not round-trip. Errors are
{"error": "..."}; Vertex's are {"error": {"code", "message", "status"}}.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

# google.rpc.Code names of the statuses this server answers, for Vertex's error body.
RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED",
              408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT",
              499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_MAX_POWER = 12  # 5**12 < 2**28: a float32 (24 bits) times 10**12 is exact in float64
_POWERS = 10.0 ** np.arange(23)  # exact in float64 up to 10**22
_FLOAT32 = struct.Struct("f")  # packing rounds a float64 to the nearest float32, as NumPy's cast does
_FORMAT_IN_PYTHON = 8  # below this many values, NumPy's per-call cost exceeds formatting each
_IN_RANGE_LOW, _IN_RANGE_HIGH = 1e-7, 1e6  # magnitudes whose %g digits need 10**0 .. 10**12 (_printed_in_range)


def error_body(status: int, message: str, protocol: str) -> dict[str, Any]:
    """The error document of `protocol` ("vertex" or "tfserving")."""
    if protocol == "vertex":
        return {"error": {"code": status, "message": message, "status": RPC_STATUS.get(status, "UNKNOWN")}}
    return {"error": message}


def json_values(array: np.ndarray) -> Any:
    """An output tensor as TF Serving writes it: float32 values with the digits TF Serving
    prints (%g, or %.9g when %g does not round-trip), nested by shape; bools and strings as is."""
    if array.dtype.kind != "f":
        return array.tolist()
    return tf_serving_floats(array.astype(np.float32).reshape(-1)).reshape(array.shape).tolist()


def tf_serving_floats(flat: np.ndarray) -> np.ndarray:
    """float32 values (1-D) -> the float64 nearest the decimal TF Serving prints for each:
    %g (6 significant digits) when that reads back as the same float32, else %.9g."""
    if len(flat) <= _FORMAT_IN_PYTHON:
        return np.asarray([_printed(x) for x in flat.tolist()], dtype=np.float64)
    wide = flat.astype(np.float64)
    magnitude = np.abs(wide)
    if magnitude.min() >= _IN_RANGE_LOW and magnitude.max() < _IN_RANGE_HIGH:  # False with NaN, inf or 0
        return np.copysign(_printed_in_range(magnitude), wide)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(magnitude))
    power = np.clip(np.where(np.isfinite(exponent), 5 - exponent, -1.0), -1, _MAX_POWER + 1).astype(np.intp)
    scaled = magnitude * _POWERS[np.clip(power, 0, _MAX_POWER)]
    # log10 may be one off next to a power of ten: put the scaled value in [10**5, 10**6)
    power += (scaled < _POWERS[5]).astype(np.intp) - (scaled >= _POWERS[6]).astype(np.intp)
    short = _rounded(wide, magnitude, power)
    with np.errstate(invalid="ignore"):
        reads_back = short.astype(np.float32) == flat
    values = np.where(reads_back | np.isnan(short), short, _rounded(wide, magnitude, power + 3))
    missing = np.flatnonzero(np.isnan(values))  # outside the exact range (or NaN): format those
    if len(missing):
        values[missing] = [_printed(x) for x in wide[missing].tolist()]
    return values


def _printed_in_range(magnitude: np.ndarray) -> np.ndarray:
    """tf_serving_floats of magnitudes all in [1e-7, 1e6) (probabilities, nearly always), in
    about half the NumPy calls of the general case: there every value's exponent is finite
    and its %g scale 10**power exact (0 <= power <= 12), so nothing needs masking (see
    _rounded for why the arithmetic is exact); %.9g needs 10**(power + 3), exact only
    down to 1e-4, and the rare value below that which needs it is printed by Python."""
    power = (5.0 - np.floor(np.log10(magnitude))).astype(np.intp)  # %g: 6 digits, 10**5 <= scaled < 10**6
    scaled = magnitude * _POWERS[power]
    # log10 may be one off next to a power of ten: put the scaled value in [10**5, 10**6)
    power += scaled < _POWERS[5]
    power -= scaled >= _POWERS[6]
    scale = _POWERS[power]
    short = np.rint(magnitude * scale) / scale
    long_scale = _POWERS[power + 3]
    reads_back = short.astype(np.float32) == magnitude
    values = np.where(reads_back, short, np.rint(magnitude * long_scale) / long_scale)
    if power.max() > _MAX_POWER - 3:  # below 1e-4 %.9g is not exact here: Python prints those
        inexact = np.flatnonzero((power > _MAX_POWER - 3) & ~reads_back)
        values[inexact] = [_printed(x) for x in magnitude[inexact].tolist()]
    return values


def _printed(value: float) -> float:
    """One float32 value (as a Python float) the way TF Serving prints it, read back."""
    short = float(f"{value:g}")
    try:
        if _FLOAT32.unpack(_FLOAT32.pack(short))[0] == value:
            return short
    except OverflowError:
        pass
    return float(f"{value:.9g}")


def _rounded(wide: np.ndarray, magnitude: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Each value rounded to the decimal digits that `power` (10**power * value has the wanted
    significant digits before the point) gives, exactly as printf rounds (to nearest, ties to
    even, on the exact binary value), as the nearest float64; NaN where that cannot be done
    exactly here. Exact because a float32 times 10**p (0 <= p <= 12) fits float64's 53 bits,
    so the scaled value, its rounding and the division by the exact 10**p (correctly rounded
    by IEEE 754) are all what decimal arithmetic gives."""
    usable = (power >= 0) & (power <= _MAX_POWER) & (magnitude > 0)
    scale = _POWERS[np.where(usable, power, 0)]
    rounded = np.copysign(np.round(magnitude * scale) / scale, wide)
    return np.where(usable, rounded, np.nan)


def tfserving_body(outputs: dict[str, np.ndarray], columnar: bool) -> dict[str, Any]:
    """TF Serving's answer: {"predictions": rows} or, for columnar requests, {"outputs": ...};
    the output name is left out when the signature has a single output."""
    if not columnar and len(outputs) > 1:
        row = _one_row(outputs)
        if row is not None:
            return {"predictions": [row]}
    values = _json_outputs(outputs)
    single = len(values) == 1
    if columnar:
        return {"outputs": next(iter(values.values())) if single else values}
    if single:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": list(map(row_maker(tuple(values)), *values.values()))}


def _one_row(outputs: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The answer row of a one-instance request whose outputs are scalars or vectors per
    instance (most online requests), built directly: one tolist per output; None otherwise."""
    values: dict[str, Any] = {}
    for name, array in outputs.items():
        if not 1 <= array.ndim <= 2 or len(array) != 1:
            return None
        if array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        values[name] = array.tolist()[0]
    return _printed_row(values)


def row_answer(values: dict[str, Any]) -> dict[str, Any]:
    """TF Serving's answer to a one-instance row request from the instance's outputs as
    Python values (what tolist gives of the float32, bool and string outputs): the answer
    tfserving_body gives for the same outputs as arrays, formatted without NumPy."""
    row = _printed_row(values)
    return {"predictions": [row] if len(row) > 1 else list(row.values())}


def _printed_row(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _printed_value(value) for name, value in values.items()}


def _printed_value(value: Any) -> Any:
    """An output's value as Python objects (float32 values as floats, nested lists), its
    floats as TF Serving prints them."""
    if type(value) is float:
        return _printed(value)
    if type(value) is list:  # floats printed here: a vector output is one call, not one per value
        return [_printed(item) if type(item) is float else _printed_value(item) for item in value]
    return value


@functools.lru_cache(maxsize=16)
def row_maker(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function building one answer row {name: value, ...} from one value per output, as a
    dict display: about half the cost of dict(zip(names, row)) per row, which a 100-instance
    answer pays 100 times. The names are the signature's output names (repr-quoted here)."""
    arguments = [f"v{index}" for index in range(len(names))]
    display = ", ".join(f"{name!r}: {argument}" for name, argument in zip(names, arguments, strict=True))
    return eval(f"lambda {', '.join(arguments)}: {{{display}}}")  # noqa: S307 - our own names, quoted


def _json_outputs(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """json_values of every output, the float ones formatted in one call (one set of NumPy
    calls per request, not per output)."""
    floats = [name for name, array in outputs.items() if array.dtype.kind == "f"]
    if len(floats) < 2:
        return {name: json_values(array) for name, array in outputs.items()}
    if sum(outputs[name].size for name in floats) <= _FORMAT_IN_PYTHON:  # one or two instances
        return {name: _printed_rows(array) if name in floats else array.tolist() for name, array in outputs.items()}
    flat = np.concatenate([outputs[name].astype(np.float32).reshape(-1) for name in floats])
    printed = tf_serving_floats(flat)
    ends = np.cumsum([outputs[name].size for name in floats]).tolist()
    starts = [0, *ends[:-1]]
    formatted = {name: printed[start:end].reshape(outputs[name].shape).tolist()
                 for name, start, end in zip(floats, starts, ends, strict=True)}
    return {name: formatted[name] if name in formatted else array.tolist() for name, array in outputs.items()}


def _printed_rows(array: np.ndarray) -> Any:
    """json_values of a few float values, formatted one by one (no NumPy calls beyond one
    tolist: the float32 values come out exact as Python floats)."""
    return _printed_value((array if array.dtype == np.float32 else array.astype(np.float32)).tolist())
