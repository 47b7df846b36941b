"""`churn logs export`: the prediction log as CSV or Parquet, streamed in chunks.

One row per answered instance: metadata columns, one column per raw feature, the scores
(pipeline.serving.predlog.FRAME_COLUMNS). The file appears only when complete, readable by
its owner only (it holds customer IDs), never replaces an existing file unless asked, and
a window without predictions is an error rather than an empty file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from pipeline.core import atomic
from pipeline.serving.predlog import META_COLUMNS, SCORE_COLUMNS, PredictionLogError, iter_log_frames, utc_timestamp
from pipeline.training import schema

SUFFIXES = (".csv", ".parquet", ".pq")


def export_log(path: Path, out: Path, since: dt.datetime | None = None, until: dt.datetime | None = None,
               chunk_rows: int = 50_000, overwrite: bool = False) -> int:
    """Write the logged predictions in [since, until) to `out` (.csv or .parquet); return
    the number of rows written."""
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise PredictionLogError(f"{out}: choose a .csv or .parquet output file")
    rows = 0
    with atomic.writer(out, private=True, replace=overwrite) as handle:
        with (_CsvChunks(handle) if out.suffix.lower() == ".csv" else _ParquetChunks(handle)) as chunks:
            for frame in iter_log_frames(path, since, until, chunk_rows):
                chunks.write(frame)
                rows += len(frame)
        if rows == 0:
            raise PredictionLogError(f"{path}: no predictions logged{_window(since, until)}; "
                                     "nothing written (widen --since/--until)")
    return rows


def _window(since: dt.datetime | None, until: dt.datetime | None) -> str:
    parts = [f" since {utc_timestamp(since)}"] if since else []
    parts += [f" before {utc_timestamp(until)}"] if until else []
    return " and".join(parts)


class _CsvChunks:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.header = True

    def __enter__(self) -> _CsvChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        return None  # atomic.writer owns the handle

    def write(self, frame: pd.DataFrame) -> None:
        text = frame.to_csv(header=self.header, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        self.handle.write(text.encode("utf-8"))
        self.header = False


class _ParquetChunks:
    """A Parquet file written chunk by chunk with one fixed schema (a chunk of all-missing
    customerIDs must not change a column's type)."""

    def __init__(self, handle: BinaryIO) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {name: pa.string() for name in META_COLUMNS}
        types.update(instance=pa.int64(), timestamp=pa.timestamp("us", tz="UTC"))
        types.update({n: pa.float64() if schema.is_numeric(n) else pa.string() for n in schema.FEATURES})
        types.update({n: pa.bool_() if n == "churn" else pa.float64() for n in SCORE_COLUMNS})
        self.schema = pa.schema([pa.field(name, types[name]) for name in (*META_COLUMNS, *schema.FEATURES,
                                                                           *SCORE_COLUMNS)])
        self.writer = pq.ParquetWriter(handle, self.schema)

    def __enter__(self) -> _ParquetChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.close()

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self.writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
