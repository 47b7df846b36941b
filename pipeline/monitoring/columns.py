"""Turn one chunk of one column into counts, with one vectorised pass over the column.

Columns may arrive as text (a prediction log, TotalCharges " " for new customers), as
numbers, or as pandas categoricals. Each column is hashed once (value_counts, which is
Arrow's hash kernel for pandas 3 strings and a bincount of codes for categoricals); all
further work runs on its distinct values, never row by row in Python. Text with mostly
distinct numbers (TotalCharges) is parsed by Arrow instead of hashed; integer text (tenure)
is cast by Arrow and counted per value; a few known labels are counted by their lengths and
one byte, or by comparison (pipeline.monitoring.labels).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_numeric_dtype

from pipeline.monitoring.labels import label_rows

T = TypeVar("T")
R = TypeVar("R")
# Below this many rows a thread pool costs more than it saves.
THREADED_ROWS = 50_000
# Rows looked at to tell a high-cardinality numeric text column from a low one.
DISTINCT_SAMPLE = 4096
# Up to this many labels, one comparison pass per label beats hashing every row.
MAX_COMPARED_LABELS = 4
# Rows of a text chunk cast to numbers first, to tell whether the whole chunk may cast.
CAST_PROBE_ROWS = 2048
# Integer text spanning fewer values than this is counted per value, not kept row by row.
MAX_COUNTED_SPAN = 1 << 16


@dataclass(frozen=True)
class NumericColumn:
    """The finite values of a column, each standing for `weights` rows (None: one row each)."""

    values: np.ndarray
    weights: np.ndarray | None
    missing: int

    @property
    def rows(self) -> int:
        """Rows with a finite value."""
        return int(self.weights.sum()) if self.weights is not None else int(self.values.size)


@dataclass(frozen=True)
class CategoryCounts:
    """Rows per category label; blank and null labels count as missing."""

    counts: dict[str, int]
    missing: int


def numeric_column(series: pd.Series) -> NumericColumn:
    """Coerce to float like pd.to_numeric(errors="coerce"); unparseable and non-finite
    values count as missing."""
    if is_numeric_dtype(series.dtype):
        return _finite(series.to_numpy(dtype=np.float64, na_value=np.nan), None)
    arrow = _arrow_strings(series)
    if arrow is not None and _mostly_distinct(series):
        parsed = _parse_arrow_floats(arrow)
        if parsed is not None:
            values, dropped = parsed
            column = _finite(values, None)
            return NumericColumn(column.values, None, column.missing + dropped)
    known = _known_label_counts(series, ())  # a few texts ("0", "1"): compared, not hashed
    if known is not None:
        labels, rows = list(known.counts), np.fromiter(known.counts.values(), dtype=np.int64)
    else:
        integers = _parse_arrow_integers(arrow) if arrow is not None and len(series) > DISTINCT_SAMPLE else None
        if integers is not None:
            return integers
        counted = series.value_counts(dropna=False, sort=False)
        labels, rows = counted.index, counted.to_numpy(dtype=np.int64)
    column = _finite(_to_float(labels), rows)
    return NumericColumn(column.values, column.weights, int(len(series) - column.rows))


def _finite(values: np.ndarray, weights: np.ndarray | None) -> NumericColumn:
    if weights is None and values.size and _all_finite(values):  # the usual case: no copy
        return NumericColumn(values, None, 0)
    finite = np.isfinite(values)
    if weights is not None:
        return NumericColumn(values[finite], weights[finite], int(weights[~finite].sum()))
    return NumericColumn(values[finite], None, int(values.size - np.count_nonzero(finite)))


def _all_finite(values: np.ndarray) -> bool:
    """Whether no value is NaN or infinite, from two reductions instead of a mask: min and
    max are NaN when any value is, and infinite when any value is."""
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(values.min()) and np.isfinite(values.max()))


def _to_float(uniques: object) -> np.ndarray:
    coerced = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow data behind a pyarrow-backed string column (pandas 3's default), else None."""
    dtype = series.dtype
    backed = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
        isinstance(dtype, pd.ArrowDtype) and _is_text(dtype.pyarrow_dtype))
    if not backed:
        return None
    data = series.array.__arrow_array__()
    return data if _is_text(data.type) else None


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _mostly_distinct(series: pd.Series) -> bool:
    """Whether parsing every row beats parsing each distinct value once (TotalCharges)."""
    sample = series.iloc[:DISTINCT_SAMPLE]
    return len(pd.unique(sample)) > len(sample) // 4


def _parse_arrow_floats(data: pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    """(every non-blank, non-null row as float64, how many rows were blank or null);
    None when some text is not a plain number (the caller then coerces distinct values one
    by one, like pd.to_numeric). Null rows are dropped by Arrow, not turned into NaN and
    filtered again."""
    parsed, dropped, blanks_seen = [], 0, False
    for chunk in data.chunks:  # per chunk: a failed cast only redoes its own chunk
        cast = _cast_floats(chunk, blanks_seen)
        if cast is None:
            return None
        numbers, blanks = cast
        blanks_seen = blanks_seen or blanks
        dropped += numbers.null_count
        parsed.append(pc.drop_null(numbers).to_numpy(zero_copy_only=False) if numbers.null_count
                      else numbers.to_numpy(zero_copy_only=False))
    return (np.concatenate(parsed) if parsed else np.empty(0)), dropped


def _cast_floats(chunk: pa.Array, blanks_seen: bool = False) -> tuple[pa.Array, bool] | None:
    """(the chunk as float64 with blank text as null, whether it held blank text); None
    when some text is not a number.

    A failed cast costs up to a whole one, so the whole chunk is cast first only when its
    first CAST_PROBE_ROWS rows cast and no earlier chunk of the column held blanks: a column
    without blanks (the usual case) then costs one cast, and one with blanks (TotalCharges)
    tries the plain cast once, not once per chunk. Otherwise blank rows are marked null in a
    new validity bitmap only (the strings are not copied: Arrow's cast skips null slots) and
    that is cast."""
    if not blanks_seen and _cast_or_none(chunk.slice(0, CAST_PROBE_ROWS)) is not None:
        whole = _cast_or_none(chunk)
        if whole is not None:
            return whole, False
    blank = pc.or_(pc.utf8_is_space(chunk), pc.equal(pc.binary_length(chunk), 0))
    if not pc.any(blank).as_py():  # no blank: castable only if not tried above
        whole = _cast_or_none(chunk) if blanks_seen else None
        return None if whole is None else (whole, False)
    cast = _cast_or_none(_with_nulls(chunk, blank))
    return None if cast is None else (cast, True)


def _parse_arrow_integers(data: pa.ChunkedArray) -> NumericColumn | None:
    """Integer text (tenure) as each distinct value and its rows, by Arrow's integer cast
    and a bincount, a few times cheaper than hashing every text; None when some text is not
    a plain integer. Values spanning MAX_COUNTED_SPAN or more are kept row by row."""
    parsed = []
    for chunk in data.chunks:
        if _cast_or_none(chunk.slice(0, CAST_PROBE_ROWS), pa.int64()) is None:
            return None
        integers = _cast_or_none(chunk, pa.int64())
        if integers is None:
            return None
        parsed.append((pc.drop_null(integers) if integers.null_count else integers).to_numpy())
    values = np.concatenate(parsed) if parsed else np.empty(0, dtype=np.int64)
    if values.size == 0:
        return None
    low = int(values.min())
    if int(values.max()) - low >= MAX_COUNTED_SPAN:
        return NumericColumn(values.astype(np.float64), None, data.null_count)
    rows = np.bincount(values - low)
    present = np.flatnonzero(rows)
    return NumericColumn((present + low).astype(np.float64), rows[present], data.null_count)


def _cast_or_none(chunk: pa.Array, target: pa.DataType = pa.float64()) -> pa.Array | None:  # noqa: B008
    try:
        return pc.cast(chunk, target)
    except pa.ArrowInvalid:
        return None


def _with_nulls(chunk: pa.Array, nulls: pa.Array) -> pa.Array:
    """`chunk` with rows where `nulls` is true made null as well; its offsets and characters
    are shared, not copied."""
    valid = pc.fill_null(pc.and_not(pc.is_valid(chunk), nulls), False).to_numpy(zero_copy_only=False)
    # A bitmap starts at bit `offset`: keep the sub-byte part of the chunk's offset and move
    # the rest into the offsets buffer, so a chunk deep inside a large array costs no more.
    shift = chunk.offset % 8
    width = 8 if pa.types.is_large_string(chunk.type) else 4
    _, offsets, data = chunk.buffers()
    bitmap = pa.py_buffer(np.packbits(np.concatenate([np.zeros(shift, dtype=bool), valid]),
                                      bitorder="little"))
    return pa.Array.from_buffers(chunk.type, len(chunk),
                                 [bitmap, offsets.slice((chunk.offset - shift) * width), data],
                                 offset=shift)


def category_counts(series: pd.Series, vocabulary: Collection[str] = ()) -> CategoryCounts:
    """Rows per label, labels as strings (1.0 and 1 both become "1").

    `vocabulary`: labels the column is expected to hold (the baseline's); with the labels
    of its first rows they let a text column be counted by comparison instead of hashing.
    """
    known = _known_label_counts(series, vocabulary)
    if known is not None:
        return known
    counted = series.value_counts(dropna=False, sort=False)
    missing = 0
    counts: dict[str, int] = {}
    for label, rows in zip(counted.index, counted.to_numpy().tolist(), strict=True):
        key = category_label(label)
        if key is None:
            missing += rows
        elif rows:
            counts[key] = counts.get(key, 0) + rows
    return CategoryCounts(counts, missing)


def _known_label_counts(series: pd.Series, vocabulary: Collection[str]) -> CategoryCounts | None:
    """Counts of a text column holding only a few known labels, by their lengths (and a
    byte) or one equality pass per label (pipeline.monitoring.labels; a few times cheaper
    than hashing every row); None when some row holds anything else (an unseen or blank
    label), which value_counts then handles."""
    arrow = _arrow_strings(series)
    if arrow is None or len(series) <= DISTINCT_SAMPLE or len(vocabulary) > MAX_COMPARED_LABELS:
        return None
    sample = pd.unique(series.iloc[:DISTINCT_SAMPLE].dropna())
    labels = {str(label) for label in vocabulary} | {str(label) for label in sample}
    if len(labels) > MAX_COMPARED_LABELS or any(category_label(label) != label for label in labels):
        return None
    found = label_rows(arrow, sorted(labels))
    if found is None:
        return None
    nulls = arrow.null_count
    # value_counts lists labels by first appearance; keep that order (baseline_stats.json's)
    seen = {label: rank for rank, label in enumerate(sample)}  # ranks < DISTINCT_SAMPLE <= rows
    first = {label: seen.get(label, pc.index(arrow, label).as_py()) for label in found}
    return CategoryCounts({label: found[label] for label in sorted(found, key=first.__getitem__)}, nulls)


def category_label(value: object) -> str | None:
    """The string a category is stored under; None for null or blank."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip() else None


def map_columns(function: Callable[[T], R], items: Sequence[T], rows: int,
                cost: Callable[[T], float] | None = None) -> list[R]:
    """`[function(item) for item in items]`, on one thread per core for large chunks:
    Arrow's hashing and NumPy's kernels release the GIL, so columns run in parallel.
    `cost`: a guess of each item's work; costlier items start first, so that no core is
    left alone with a long column at the end (results keep the order of `items`)."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1 or rows < THREADED_ROWS:
        return [function(item) for item in items]
    order = list(range(len(items)))
    if cost is not None:
        order.sort(key=lambda index: -cost(items[index]))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-column") as pool:
        done = dict(zip(order, pool.map(lambda index: function(items[index]), order), strict=True))
    return [done[index] for index in range(len(items))]
