"""Reading the prediction log (pipeline.serving.predlog) back as frames: one row per
instance, a column per feature. Readers open the file separately; WAL lets them read while
the server writes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from pipeline.serving.predlog import (
    _RECORD,
    LOGGED_FEATURES,
    META_COLUMNS,
    SCORE_COLUMNS,
    PredictionLogError,
    utc_timestamp,
)
from pipeline.training import schema


def iter_log_frames(path: Path, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Logged predictions with since <= timestamp < until, oldest first, one row per
    instance, in frames of about chunk_rows rows (whole requests): metadata columns, one
    column per raw feature (numbers as float64), then the scores."""
    connection = _open_reader(Path(path))
    try:
        cursor = connection.execute(
            f"SELECT {', '.join(_RECORD)} FROM requests WHERE timestamp >= ? AND timestamp < ? ORDER BY id",
            (utc_timestamp(since) if since else "", utc_timestamp(until) if until else "~"))
        pending: list[tuple] = []
        rows = 0
        for record in cursor:
            pending.append(record)
            rows += record[_RECORD.index("size")]
            if rows >= chunk_rows:
                yield _frame(pending)
                pending, rows = [], 0
        if pending:
            yield _frame(pending)
    finally:
        connection.close()


def _open_reader(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise PredictionLogError(f"{path}: no prediction log yet (serve predictions with `churn serve` "
                                 "or set paths.artifacts)")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
        connection.execute("SELECT 1 FROM requests LIMIT 1")
    except sqlite3.Error as exc:
        raise PredictionLogError(f"{path}: not a prediction log ({exc})") from None
    return connection


def _frame(records: list[tuple]) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in (*META_COLUMNS, *SCORE_COLUMNS)}
    features: list[list[Any]] = []
    for request_id, timestamp, version, endpoint, latency, _size, instances in records:
        for index, (customer, values, probability, lower, upper, churn) in enumerate(orjson.loads(instances)):
            for name, value in zip(columns, (request_id, index, timestamp, version, endpoint, customer,
                                             probability, lower, upper, churn, latency), strict=True):
                columns[name].append(value)
            # values in LOGGED_FEATURES order; an object by name in logs written before 2026-12
            features.append(values if type(values) is list else [values.get(name) for name in LOGGED_FEATURES])
    table = pd.DataFrame.from_records(features, columns=list(LOGGED_FEATURES))
    frame = pd.DataFrame({name: pd.Series(columns[name], dtype="string") for name in META_COLUMNS})
    frame["instance"] = pd.Series(columns["instance"], dtype="int64")
    frame["timestamp"] = pd.to_datetime(pd.Series(columns["timestamp"]), utc=True, format="ISO8601")
    for name in schema.FEATURES:
        frame[name] = table[name].astype("float64" if schema.is_numeric(name) else "string")
    for name in SCORE_COLUMNS:
        frame[name] = pd.Series(columns[name], dtype="bool" if name == "churn" else "float64")
    return frame
