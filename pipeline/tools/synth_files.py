"""Generated data on disk at any size: one CSV, or Parquet shards, written chunk by chunk.

Memory stays at one chunk (CHUNK_ROWS rows) whatever the row count. Up to one chunk the file
is exactly `generate_customers(rows, seed)` (the committed sample is unchanged); beyond it,
chunk i is drawn from the seed sequence (seed, i) and takes the file's customerIDs for its
rows, so IDs stay unique across chunks and shards and the same (rows, seed) gives the same
rows whatever the format or shard count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.core import atomic
from pipeline.errors import OutputError
from pipeline.tools.synth import generate_customers, id_key
from pipeline.training import schema

CHUNK_ROWS = 500_000


def customer_chunks(rows: int, seed: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file's rows in order, at most `chunk_rows` at a time."""
    if rows <= chunk_rows:
        yield generate_customers(rows, seed)
        return
    key = id_key(np.random.default_rng([seed, 2**32 - 1]))
    for index, start in enumerate(range(0, rows, chunk_rows)):
        count = min(chunk_rows, rows - start)
        yield generate_customers(count, [seed, index], id_key=key, start=start)


def write_csv(rows: int, seed: int, path: Path, chunk_rows: int = CHUNK_ROWS) -> Path:
    """One CSV formatted like the public file, written atomically chunk by chunk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with atomic.writer(path) as handle:
        handle.write((",".join(schema.COLUMNS) + "\n").encode("utf-8"))
        for chunk in customer_chunks(rows, seed, chunk_rows):
            pa_csv.write_csv(pa.Table.from_pandas(chunk[list(schema.COLUMNS)], preserve_index=False), handle, options)
    return path


def parquet_table(chunk: pd.DataFrame) -> pa.Table:
    """Typed columns: numbers as numbers (TotalCharges null where never billed), text as text."""
    columns = {}
    for name in schema.COLUMNS:
        values = pa.array(chunk[name].to_numpy(dtype=object if chunk[name].dtype == object else None))
        if name == "TotalCharges":
            text = pc.utf8_trim_whitespace(values)
            values = pc.cast(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), pa.float64())
        columns[name] = values
    return pa.table(columns)


def write_parquet_shards(rows: int, seed: int, folder: Path, shards: int = 1,
                         chunk_rows: int = CHUNK_ROWS) -> list[Path]:
    """`shards` Parquet files part-00000-of-0000K.parquet in `folder` (new or empty), rows
    split evenly in order; each file is written atomically."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(f"{folder}: exists and is not an empty folder (Parquet shards need a new folder)")
    if not 1 <= shards <= max(rows, 1):
        raise OutputError(f"--shards {shards}: expected 1 to {rows:,} (the row count)")
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, rows, shards + 1).round().astype(int)
    paths = [folder / f"part-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
    chunks = customer_chunks(rows, seed, chunk_rows)
    pending = pd.DataFrame()
    for path, low, high in zip(paths, bounds[:-1], bounds[1:], strict=True):
        with atomic.writer(path) as handle:
            writer = None
            need = int(high - low)
            while need > 0:
                if pending.empty:
                    pending = next(chunks)
                piece, pending = pending.iloc[:need], pending.iloc[need:]
                table = parquet_table(piece)
                writer = writer or pq.ParquetWriter(handle, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=min(chunk_rows, 131_072))
                need -= len(piece)
            if writer is not None:
                writer.close()
    return paths
