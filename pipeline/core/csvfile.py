"""Reading a CSV as text columns, exactly as written, refusing what cannot be read faithfully.

The one reader behind the training loader, `predict --input`, `monitor --current` and
`retrain --data`. It refuses, with one line naming the file and line:
- anything that is not a regular file (pipeline.core.inputs.open_regular_file);
- an empty file, duplicated column names, a header-only file;
- a ragged row: more or fewer fields than the header. pandas would silently take a
  trailing comma on the first data row as an index column and shift every value one
  column left, so the file is parsed by Arrow, which reports each such row;
- bytes that are not UTF-8 (a UTF-8 byte order mark is accepted), and rows so long that
  they cannot be customer data (over BLOCK_BYTES).
Values are never echoed whole (pipeline.errors.quote and clip).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from pipeline.core.inputs import first_invalid_utf8, open_regular_file
from pipeline.errors import PipelineError, clip

HEADER_MAX_BYTES = 1 << 20
BLOCK_BYTES = 16 << 20  # Arrow parses in blocks; one row must fit in one block
NAME_ECHO = 60  # characters of one column name shown in a message
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class CsvOptions:
    """How a reader names its mistakes: the exception type, what the file is, and how to
    point at another one (the command line option)."""

    error: type[PipelineError]
    what: str = "CSV file"
    hint: str = ""


def read_header(path: Path, options: CsvOptions) -> list[str]:
    """The header's column names (surrounding spaces removed), refusing an empty file and
    a header line that is not UTF-8 or not CSV."""
    with open_regular_file(path, options.error, options.what, options.hint) as handle:
        return _header_of(handle, path, options)[1]


def iter_text_frames(path: Path, options: CsvOptions,
                     batch_rows: int = 1_000_000) -> Iterator[tuple[int, pd.DataFrame]]:
    """(line of the first row, frame) for batches of at most `batch_rows` rows; every column
    is text as written in the file, named as in the header (surrounding spaces removed)."""
    with open_regular_file(path, options.error, options.what, options.hint) as handle:
        yield from iter_handle_frames(handle, path, options, batch_rows)


def iter_handle_frames(handle: BinaryIO, path: Path | str, options: CsvOptions,
                       batch_rows: int = 1_000_000) -> Iterator[tuple[int, pd.DataFrame]]:
    """iter_text_frames over an open, seekable binary handle (a local file, a Cloud Storage
    object's reader); `path` names it in messages."""
    raw_names, names = _header_of(handle, path, options)
    duplicated = list(dict.fromkeys(name for name in names if names.count(name) > 1))
    if duplicated:  # Arrow would keep only one of them
        raise options.error(f"{path}: duplicated column(s) {list_names(duplicated)} in the header")
    handle.seek(0)
    first_line, rows = 2, 0
    for table in _rebatched(_arrow_batches(handle, path, raw_names, options), batch_rows):
        frame = table.to_pandas()
        frame.columns = names
        yield first_line, frame
        first_line += len(frame)
        rows += len(frame)
    if rows == 0:
        raise options.error(f"{path}: has a header but no data rows")


def read_handle_header(handle: BinaryIO, path: Path | str, options: CsvOptions) -> list[str]:
    """read_header over an open binary handle; the handle is left at the start."""
    names = _header_of(handle, path, options)[1]
    handle.seek(0)
    return names


def read_text_frame(path: Path, options: CsvOptions) -> pd.DataFrame:
    """The whole file as one text frame (see iter_text_frames)."""
    frames = [frame for _, frame in iter_text_frames(path, options)]
    return pd.concat(frames, ignore_index=True)


def _header_of(handle: BinaryIO, path: Path | str, options: CsvOptions) -> tuple[list[str], list[str]]:
    """(names as written, names stripped) of the first line."""
    error = options.error
    try:
        line = handle.readline(HEADER_MAX_BYTES)
    except OSError as exc:
        raise error(f"{path}: cannot read the {options.what} ({exc.strerror or exc.__class__.__name__})") from None
    if len(line) >= HEADER_MAX_BYTES and not line.endswith(b"\n"):
        raise error(f"{path}: the header line is longer than {HEADER_MAX_BYTES:,} bytes "
                    f"(expected a {options.what} with a header row of column names)")
    if not line.removeprefix(BOM).strip() and not handle.read(1024).strip():
        raise error(f"{path}: file is empty (expected a {options.what} with a header row)")
    try:
        text = line.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: line 1, byte {exc.start + 1} is not valid UTF-8 "
                    "(re-save the file as UTF-8)") from None
    if not text.strip():
        raise error(f"{path}: line 1 is blank (expected a header row of column names)")
    try:  # Arrow parses the header too, so names match the data's columns exactly
        raw = pa_csv.read_csv(io.BytesIO(text.encode("utf-8")),
                              read_options=pa_csv.ReadOptions(block_size=len(line) + 1)).column_names
    except pa.ArrowInvalid:  # Arrow's reason ("Empty CSV file or block") would mislead
        raise error(f"{path}: line 1 is not a CSV header row (an unclosed quote?)") from None
    names = [name.strip() for name in raw]
    if "" in names:
        position = names.index("")
        raise error(f"{path}: line 1, column {position + 1} of the header has no name "
                    f"({'a trailing comma?' if position == len(names) - 1 else 'a saved index column?'})")
    return raw, names


def _arrow_batches(handle: BinaryIO, path: Path | str, raw_names: list[str],
                   options: CsvOptions) -> Iterator[pa.RecordBatch]:
    ragged = _RaggedRows()
    try:
        reader = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in raw_names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        if reader.schema.names != raw_names:
            raise options.error(f"{path}: line 1 is not a plain CSV header row "
                                "(quoted line breaks or unbalanced quotes in column names)")
        yield from reader
    except (pa.ArrowInvalid, OSError) as exc:
        raise options.error(f"{path}: {_reason(exc, ragged, handle)}") from None


class _RaggedRows:
    """Arrow's invalid-row handler: remembers the first ragged row, then stops the read
    (its own message would quote the whole row)."""

    def __init__(self) -> None:
        self.first: tuple[int | None, int, int] | None = None

    def __call__(self, row: pa_csv.InvalidRow) -> str:
        if self.first is None:
            self.first = (row.number, row.actual_columns, row.expected_columns)
        return "error"

    def describe(self) -> str:
        assert self.first is not None
        number, actual, expected = self.first
        where = f"line {number}" if number is not None else "a row"
        hint = ("a trailing comma or an unquoted comma in a value?" if actual > expected
                else "a missing value or an unclosed quote?")
        return (f"{where} has {actual} field{'s' if actual != 1 else ''} but the header has "
                f"{expected} ({hint})")


def _reason(exc: Exception, ragged: _RaggedRows, handle: BinaryIO) -> str:
    if ragged.first is not None:
        return ragged.describe()
    message = str(exc)
    if "invalid UTF8" in message:
        return f"{first_invalid_utf8(handle)} is not valid UTF-8 (re-save the file as UTF-8)"
    if "straddl" in message:
        return (f"a row is longer than {BLOCK_BYTES // (1 << 20)} MB "
                "(an unclosed quote, or a value that is not customer data?)")
    if isinstance(exc, OSError):
        return f"cannot read the file ({exc.strerror or exc.__class__.__name__})"
    return f"malformed CSV ({clip(message.splitlines()[0] if message else exc.__class__.__name__)})"


def _rebatched(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Arrow's blocks regrouped into tables of exactly `rows` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def list_names(names: list[str], limit: int = 5) -> str:
    """Column names for a message: at most `limit`, each cut to NAME_ECHO characters."""
    shown = ", ".join(clip(name, NAME_ECHO) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
