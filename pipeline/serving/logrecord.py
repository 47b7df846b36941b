"""The prediction log's record of one answered request, and its timestamps (see
pipeline.serving.predlog for the storage): built on the event loop for every request, so
kept to a few C-level passes."""

from __future__ import annotations

import datetime as dt
import operator
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from pipeline.training import schema

LOGGED_FEATURES = (*schema.CATEGORICAL_FEATURES, *schema.NUMERIC_FEATURES)  # as request parsing yields them
_TOTAL_CHARGES = operator.itemgetter("TotalCharges")
_LOGGED_VALUES = operator.itemgetter(*LOGGED_FEATURES)
_TOTAL_CHARGES_AT = LOGGED_FEATURES.index("TotalCharges")


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    """The log's timestamp text: UTC, microseconds, sortable as text (2026-01-31T12:00:00.000000Z)."""
    if moment is None:
        return _now_timestamp()
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_second_text: list[Any] = [None, ""]  # [whole second, its text]: one strftime per second, not per request


def _now_timestamp() -> str:
    """utc_timestamp() of now, from the system clock in nanoseconds (what datetime.now reads)."""
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    if _second_text[0] != second:
        _second_text[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second_text[1]}.{fraction:06d}Z"


def request_record(request_id: str, timestamp: str, model_version: str, endpoint: str, latency_ms: float,
                   instances: Sequence[dict[str, Any]], total_charges: Sequence[float] | np.ndarray,
                   customer_ids: Sequence[str | None], scores: Any,
                   logged_rows: list[tuple[Any, ...]] | None = None) -> tuple:
    """The log record of one answered request. Features are logged as the model saw them, as
    values in LOGGED_FEATURES order (`logged_rows` when request parsing has them already):
    customerID has its own field and TotalCharges sent as text is stored as its number
    (`total_charges`, the numbers as parsed, is only read when `logged_rows` is None)."""
    if logged_rows is not None:
        return _record(request_id, timestamp, model_version, endpoint, latency_ms, customer_ids, logged_rows, scores)
    features: list[Any] = list(map(_LOGGED_VALUES, instances))
    # TotalCharges as text is rare: look at each instance only then (one C-level pass decides).
    if str in set(map(type, map(_TOTAL_CHARGES, instances))):
        for index, instance in enumerate(instances):
            if type(instance["TotalCharges"]) is str:
                features[index] = list(features[index])
                features[index][_TOTAL_CHARGES_AT] = float(total_charges[index])
    return _record(request_id, timestamp, model_version, endpoint, latency_ms, customer_ids, features, scores)


def _record(request_id: str, timestamp: str, model_version: str, endpoint: str, latency_ms: float,
            customer_ids: Sequence[str | None], features: Sequence[Any], scores: Any) -> tuple:
    entries = zip(customer_ids, features, _listed(scores.probability), _listed(scores.lower),
                  _listed(scores.upper), _listed(scores.churn), strict=True)
    return (request_id, timestamp, model_version, endpoint, latency_ms, len(features),
            orjson.dumps(list(entries)).decode())


def _listed(values: Any) -> list[Any]:
    """Scores as a list: arrays are converted, a ScoredRow's lists are used as they are."""
    return values if isinstance(values, list) else values.tolist()
