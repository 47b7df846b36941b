"""Answer bodies as TF Serving's REST API and Vertex AI write them.

TF Serving (tensorflow_serving/util/json_tensor.cc): a row request is answered
{"predictions": [...]} with one value per instance when the signature has one output and
one object per instance keyed by output name when it has several; a columnar request
({"inputs": ...}) is answered {"outputs": ...}, a value or an object of outputs likewise.
Floats are float32 values printed with %g, or %.9g when %g does not round-trip. Errors are
{"error": "..."}; Vertex's are {"error": {"code", "message", "status"}}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# google.rpc.Code names of the statuses this server answers, for Vertex's error body.
RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED",
              408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT",
              499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE"}



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
    flat = array.astype(np.float32).reshape(-1)
    short = [float(f"{x:g}") for x in flat.tolist()]
    exact = np.asarray(short, dtype=np.float32) == flat
    values = [s if ok else float(f"{x:.9g}") for s, ok, x in zip(short, exact.tolist(), flat.tolist(), strict=True)]
    return np.asarray(values, dtype=np.float64).reshape(array.shape).tolist()


def tfserving_body(outputs: dict[str, np.ndarray], columnar: bool) -> dict[str, Any]:
    """TF Serving's answer: {"predictions": rows} or, for columnar requests, {"outputs": ...};
    the output name is left out when the signature has a single output."""
    values = {name: json_values(array) for name, array in outputs.items()}
    single = len(values) == 1
    if columnar:
        return {"outputs": next(iter(values.values())) if single else values}
    if single:
        return {"predictions": next(iter(values.values()))}
    names = list(values)
    return {"predictions": [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]}
