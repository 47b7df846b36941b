"""Where training data lives: CSV or Parquet files (one, a folder, a glob of shards), local
or on Cloud Storage, and BigQuery tables or queries. Every source is read as Arrow record
batches and validated batch by batch with the loader's own rules (pipeline.training.data),
so a bad value is one DataError naming the file, shard or table, the column and the line or
row, however the data arrives.

    data/churn.csv  data/shards/  'data/shards/*.parquet'        local
    gs://bucket/churn/*.parquet   gs://bucket/churn/             google-cloud-storage
    bq://project.dataset.table    bq://project?query=SELECT ...  google-cloud-bigquery

Cloud Storage honours STORAGE_EMULATOR_HOST (the tests' gcp-storage-emulator). BigQuery rows
come through the REST API (tabledata.list, jobs.query + getQueryResults), never the Storage
Read API: vertex.bigquery_api_endpoint points the client at another host (the tests' fake).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import Config
from pipeline.core.csvfile import iter_handle_frames, read_handle_header
from pipeline.errors import DataError
from pipeline.training import data, schema

SUFFIXES = (".csv", ".parquet", ".pq")
ESTIMATE_BYTES = 1 << 16  # bytes of a CSV read to estimate its bytes per row


@dataclass(frozen=True)
class Chunk:
    """Validated rows of one part of a source: `first` is the line (CSV) or row number of
    its first row within that part."""

    part: str
    first: int
    frame: pd.DataFrame


@dataclass(frozen=True)
class Part:
    """One file, object or table of a source; `name` is how messages name it."""

    name: str
    kind: str  # "csv", "parquet" or "bigquery"
    location: Any  # a local Path, a Cloud Storage blob, or a BigQuery table id / query


@dataclass(frozen=True)
class DataSource:
    """The parts of a --data value, in a fixed order."""

    spec: str
    parts: tuple[Part, ...]
    config: Config

    @property
    def is_single_local_csv(self) -> bool:
        """The original case: one local CSV, read by data.load_dataset exactly as before."""
        return len(self.parts) == 1 and self.parts[0].kind == "csv" and isinstance(self.parts[0].location, Path)

    def estimated_rows(self) -> int | None:
        """Rows, exact for Parquet and BigQuery tables, estimated from the size for CSV;
        None for a query (its size is known only once it ran)."""
        total = 0
        for part in self.parts:
            rows = _part_rows(part, self.config)
            if rows is None:
                return None
            total += rows
        return total

    def chunks(self, chunk_rows: int, require_label: bool = True) -> Iterator[Chunk]:
        """Validated chunks of at most `chunk_rows` rows, part after part."""
        for part in self.parts:
            yield from _part_chunks(part, self.config, chunk_rows, require_label)


def open_source(spec: Path | str, config: Config) -> DataSource:
    """Resolve a --data value into its parts; a DataError when nothing matches."""
    text = str(spec)
    if text.startswith("bq://"):
        parts: tuple[Part, ...] = (_bigquery_part(text),)
    elif text.startswith("gs://"):
        parts = _gcs_parts(text, config)
    else:
        parts = _local_parts(Path(spec))
    return DataSource(text, parts, config)


def load_frame(source: DataSource, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """The whole source as one validated frame (the in-memory path), with the loader's checks:
    unique customerIDs and both classes."""
    if source.is_single_local_csv:
        return data.load_dataset(source.parts[0].location, source.config.data)
    frame = pd.concat([chunk.frame for chunk in source.chunks(chunk_rows)], ignore_index=True)
    duplicated = frame[schema.ID_COLUMN].duplicated(keep=False)
    if duplicated.any():
        shown = ", ".join(repr(v) for v in dict.fromkeys(frame[schema.ID_COLUMN][duplicated].tolist()[:5]))
        raise DataError(f"{source.spec}: column {schema.ID_COLUMN}: duplicated customerID {shown} "
                        "(each customer must appear once)")
    check_both_classes(source.spec, int(frame[schema.LABEL_COLUMN].sum()), len(frame), source.config)
    return frame


def check_both_classes(name: str, positives: int, rows: int, config: Config) -> None:
    """Training and evaluation need both labels."""
    if 0 < positives < rows:
        return
    only = "Yes" if positives else "No"
    raise DataError(f"{name}: label column {config.data.label_column!r} is {only!r} on every row "
                    f"({rows:,} rows); training and evaluation need both Yes and No")


# ---- finding the parts -----------------------------------------------------------------
def _kind(name: str) -> str:
    return "csv" if name.lower().endswith(".csv") else "parquet"


def _local_parts(path: Path) -> tuple[Part, ...]:
    text = str(path)
    if glob.has_magic(text) and not path.exists():  # a file whose name holds [ or * is still that file
        found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not found:
            raise DataError(f"{text}: no file matches (expected CSV or Parquet shards; {data.DATA_HINT})")
    elif path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise DataError(f"{path}: folder holds no .csv or .parquet file ({data.DATA_HINT})")
    else:
        found = [path]  # missing or odd files are refused by the CSV reader, as before
    return tuple(Part(str(p), _kind(p.name) if p.suffix.lower() in SUFFIXES else "csv", p) for p in found)


def storage_client(config: Config) -> Any:
    """A google-cloud-storage client; anonymous on an emulator (STORAGE_EMULATOR_HOST)."""
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=config.vertex.project or "emulator", credentials=AnonymousCredentials())
    return storage.Client(project=config.vertex.project)


def _gcs_parts(uri: str, config: Config) -> tuple[Part, ...]:
    bucket_name, _, pattern = uri.removeprefix("gs://").partition("/")
    if not bucket_name:
        raise DataError(f"{uri}: expected gs://BUCKET/PATH")
    client = storage_client(config)
    magic = glob.has_magic(pattern)
    prefix = pattern[:min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))]
    try:
        blobs = list(client.list_blobs(bucket_name, prefix=prefix))
    except Exception as exc:  # google.api_core errors: NotFound bucket, Forbidden, transport
        raise DataError(f"{uri}: cannot list the objects ({_reason(exc)})") from None
    if magic:
        chosen = [b for b in blobs if fnmatch.fnmatchcase(b.name, pattern)]
    elif any(b.name == pattern for b in blobs):
        chosen = [b for b in blobs if b.name == pattern]
    else:  # a folder
        folder = pattern.rstrip("/") + "/" if pattern else ""
        chosen = [b for b in blobs if b.name.startswith(folder) and b.name.lower().endswith(SUFFIXES)]
    if not chosen:
        raise DataError(f"{uri}: no object matches (expected CSV or Parquet objects; {data.DATA_HINT})")
    chosen.sort(key=lambda b: b.name)
    return tuple(Part(f"gs://{bucket_name}/{b.name}", _kind(b.name), b) for b in chosen)


def _bigquery_part(uri: str) -> Part:
    body = uri.removeprefix("bq://")
    if "?query=" in body:
        project, _, query = body.partition("?query=")
        if not project or not query.strip():
            raise DataError(f"{uri[:80]}: expected bq://PROJECT?query=SQL")
        return Part(f"bq://{project} query", "bigquery", ("query", project, query))
    pieces = body.split(".")
    if len(pieces) != 3 or not all(pieces):
        raise DataError(f"{uri}: expected bq://PROJECT.DATASET.TABLE or bq://PROJECT?query=SQL")
    return Part(uri, "bigquery", ("table", pieces[0], body))


def bigquery_client(config: Config, project: str) -> Any:
    """A google-cloud-bigquery client billed to `project`; anonymous on an overridden endpoint."""
    from google.cloud import bigquery

    if config.vertex.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                               client_options={"api_endpoint": config.vertex.bigquery_api_endpoint})
    return bigquery.Client(project=project)


# ---- reading the parts -----------------------------------------------------------------
def _part_rows(part: Part, config: Config) -> int | None:
    if part.kind == "bigquery":
        kind, project, target = part.location
        if kind == "query":
            return None
        return int(_call(part, lambda: bigquery_client(config, project).get_table(target)).num_rows or 0)
    if part.kind == "parquet":
        with _open(part) as handle:
            return int(_parquet(part, handle).metadata.num_rows)
    with _open(part) as handle:  # a missing or odd file is refused here with the reader's message
        size = os.fstat(handle.fileno()).st_size if isinstance(part.location, Path) else int(part.location.size or 0)
        head = handle.read(ESTIMATE_BYTES)
    lines = max(head.count(b"\n"), 1)
    return int(size / (len(head) / lines)) if head else 0


def _open(part: Part) -> Any:
    if isinstance(part.location, Path):
        from pipeline.core.inputs import open_regular_file

        return open_regular_file(part.location, DataError, "CSV file" if part.kind == "csv" else "Parquet file",
                                 data.DATA_HINT)
    return part.location.open("rb")


def _part_chunks(part: Part, config: Config, chunk_rows: int, require_label: bool) -> Iterator[Chunk]:
    if part.kind == "csv":
        with _open(part) as handle:
            yield from _csv_chunks(part, handle, config, chunk_rows, require_label)
    elif part.kind == "parquet":
        with _open(part) as handle:
            reader = _parquet(part, handle)
            yield from _arrow_chunks(part, (b for b in _read(part, reader.iter_batches(batch_size=chunk_rows))),
                                     reader.schema_arrow.names, config, require_label)
    else:
        batches, names = _bigquery_batches(part, config, chunk_rows)
        yield from _arrow_chunks(part, batches, names, config, require_label)


def _csv_chunks(part: Part, handle: Any, config: Config, chunk_rows: int, require_label: bool) -> Iterator[Chunk]:
    options = data.csv_options()
    header = read_handle_header(handle, part.name, options)
    renames = _checked_renames(part.name, header, config, require_label)
    for first_line, frame in iter_handle_frames(handle, part.name, options, chunk_rows):
        yield Chunk(part.name, first_line, data.validate_frame(frame.rename(columns=renames), part.name, first_line))


def _arrow_chunks(part: Part, batches: Iterator[pa.RecordBatch], names: list[str], config: Config,
                  require_label: bool) -> Iterator[Chunk]:
    renames = _checked_renames(part.name, names, config, require_label)
    first = 1
    for batch in batches:
        if batch.num_rows == 0:
            continue
        text = pa.table({name: pc.fill_null(_as_text(batch.column(name)), "") for name in names})
        frame = text.to_pandas().rename(columns=renames)
        yield Chunk(part.name, first, data.validate_frame(frame, part.name, first, unit="row"))
        first += batch.num_rows
    if first == 1:
        raise DataError(f"{part.name}: has no data rows")


def _as_text(column: pa.Array) -> pa.Array:
    # Numbers as their shortest decimal text, so one validator (the CSV one) decides for every
    # format; a NaN becomes "nan" and is refused like any other non-number.
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _checked_renames(name: str, header: list[str], config: Config, require_label: bool) -> dict[str, str]:
    header = [h.strip() for h in header]
    renames = data._column_renames(header, config.data)
    expected = data._expected_columns(require_label, label_present=schema.LABEL_COLUMN in renames.values())
    data._check_columns(name, [renames.get(c, c) for c in header], expected)  # type: ignore[arg-type]
    return renames


def _parquet(part: Part, handle: Any) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{part.name}: not a Parquet file ({_reason(exc)})") from None


def _read(part: Part, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{part.name}: cannot read the Parquet data ({_reason(exc)})") from None


def _bigquery_batches(part: Part, config: Config, chunk_rows: int) -> tuple[Iterator[pa.RecordBatch], list[str]]:
    kind, project, target = part.location
    client = bigquery_client(config, project)
    if kind == "table":
        table = _call(part, lambda: client.get_table(target))
        rows = _call(part, lambda: client.list_rows(table, page_size=chunk_rows))
    else:
        rows = _call(part, lambda: client.query_and_wait(target, page_size=chunk_rows))
    batches = _bigquery_pages(part, rows.to_arrow_iterable(bqstorage_client=None))
    first = next(batches, None)
    names = [field.name for field in rows.schema]
    return (_chain(first, batches) if first is not None else iter(())), names


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _bigquery_pages(part: Part, pages: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from pages
    except Exception as exc:  # google.api_core errors while paging
        raise DataError(f"{part.name}: BigQuery read failed ({_reason(exc)})") from None


def _call(part: Part, action: Any) -> Any:
    try:
        return action()
    except DataError:
        raise
    except Exception as exc:  # google.api_core.exceptions: NotFound, Forbidden, BadRequest
        raise DataError(f"{part.name}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    from pipeline.errors import clip

    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return clip(" ".join(str(message).split()), 200)
