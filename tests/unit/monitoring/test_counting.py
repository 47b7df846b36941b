"""Counting text columns: the comparison fast path gives exactly what hashing gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.monitoring import columns, histogram
from pipeline.monitoring.columns import CategoryCounts, NumericColumn, category_counts, numeric_column

ROWS = 20_000
LABELS = ["Month-to-month", "One year", "Two year"]


def text_column(values: list) -> pd.Series:
    """Arrow-backed text in several chunks, as read from Parquet or CSV."""
    parts = [pd.Series(values[start:start + 7_000], dtype="str") for start in range(0, len(values), 7_000)]
    return pd.concat(parts, ignore_index=True)


def hashed(series: pd.Series) -> CategoryCounts:
    """The counts through value_counts alone (the path every other column takes)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columns, "MAX_COMPARED_LABELS", 0)
        return category_counts(series)


def labels(extra: dict[int, object]) -> list:
    values: list = list(np.random.default_rng(3).choice(LABELS, size=ROWS, p=[0.6, 0.3, 0.1]))
    values[ROWS // 2] = "Rare"  # a label first seen after the sampled rows
    for row, value in extra.items():
        values[row] = value
    return values


@pytest.mark.parametrize("extra", [
    {},
    {ROWS - 1: "Three year"},  # an unseen label, after the sampled rows
    {10_000: " ", 15_000: ""},  # blanks count as missing
    {12_000: None, 19_000: None},  # nulls count as missing
    {9_000: "one year"},  # the same length as a known label
], ids=["known", "unseen", "blank", "null", "near-miss"])
@pytest.mark.parametrize("vocabulary", [(), [*LABELS, "Rare"], ["Rare", "Two year"], LABELS])
def test_comparison_counts_equal_hashed_counts(extra: dict[int, object], vocabulary: list) -> None:
    series = text_column(labels(extra))
    counted, expected = category_counts(series, vocabulary), hashed(series)
    assert counted == expected
    assert list(counted.counts) == list(expected.counts)  # first-appearance order, as stored


def test_known_labels_are_counted_without_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    series = text_column(labels({}))
    expected = hashed(series)

    def no_hashing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("value_counts was called")

    monkeypatch.setattr(pd.Series, "value_counts", no_hashing)
    counted = category_counts(series, [*LABELS, "Rare"])
    assert counted == expected and list(counted.counts) == list(expected.counts)


@pytest.mark.parametrize("blank_rows", [[], [3], [ROWS - 2, 8_000]])
def test_text_numbers_with_and_without_blanks_parse_like_to_numeric(blank_rows: list[int]) -> None:
    values = [f"{v:.2f}" for v in np.random.default_rng(4).uniform(18, 119, ROWS)]
    for row in blank_rows:
        values[row] = " "
    column = numeric_column(text_column(values))
    expected = pd.to_numeric(pd.Series(values), errors="coerce")
    assert column.weights is None and column.missing == len(blank_rows)
    np.testing.assert_array_equal(column.values, expected.dropna().to_numpy())


def searchsorted_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """TFDV's buckets by binary search, the way exact_counts counts weighted values."""
    slot = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, edges.size - 2)
    return np.bincount(slot, minlength=edges.size - 1).astype(np.float64)


@pytest.mark.parametrize("case", ["uniform", "on-edges", "duplicate-edges", "outside", "constant"])
def test_cumulative_bucket_counts_equal_the_binary_search(case: str) -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(-3, 5, 3 * histogram.CUMULATIVE_BLOCK + 17).round(1)
    edges = histogram.standard_edges(float(values.min()), float(values.max()), 10)
    if case == "on-edges":  # a value on an inner edge counts in the bucket below it
        values[::3] = rng.choice(edges, size=values[::3].size)
    elif case == "duplicate-edges":  # a range of a few ulps gives repeated edges
        edges = np.linspace(1.0, np.nextafter(np.nextafter(1.0, 2), 2), 11)
        values = rng.choice(edges, size=values.size)
    elif case == "outside":  # clipped into the first and last buckets
        edges = np.linspace(-1, 1, 11)
    elif case == "constant":
        edges = np.array([2.0, 2.0])
        values = np.full(values.size, 2.0)
    counts = histogram.exact_counts(values, None, edges)
    np.testing.assert_array_equal(counts, searchsorted_counts(values, edges))
    assert counts.sum() == values.size


@pytest.mark.parametrize("start", [0, 3, 8, 13, 4_100])
@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
def test_blank_numbers_become_null_without_copying_the_text(start: int, arrow_type: pa.DataType) -> None:
    values = (["1.5", " ", "", None, "-2", "  ", "7e1"] * 1_000)[:6_000]
    chunk = pa.array(values, arrow_type).slice(start, 1_500)  # a chunk deep inside an array
    expected = [None if text is None or not text.strip() else float(text) for text in chunk.to_pylist()]
    for blanks_seen in (False, True):  # an earlier chunk held blanks: the plain cast is skipped
        parsed = columns._cast_floats(chunk, blanks_seen)
        assert parsed is not None and parsed[0].to_pylist() == expected and parsed[1]
        assert columns._cast_floats(pa.array(["1", "x", " "], arrow_type), blanks_seen) is None


@pytest.mark.parametrize("blanks_seen", [False, True])
def test_a_chunk_without_blanks_casts_whole_after_one_with_blanks(blanks_seen: bool) -> None:
    chunk = pa.array(["1.5", "-2", None, "7e1"] * 1_000)
    parsed = columns._cast_floats(chunk, blanks_seen)
    assert parsed is not None and parsed[0].to_pylist() == [1.5, -2.0, None, 70.0] * 1_000
    assert not parsed[1]
    assert columns._cast_floats(pa.array(["1", "x"] * 3_000), blanks_seen) is None


def test_numbers_in_many_chunks_with_blanks_in_some_parse_like_to_numeric() -> None:
    texts = [f"{v:.2f}" for v in np.random.default_rng(8).uniform(0, 9_000, 3 * ROWS)]
    chunks = [texts[:ROWS], texts[ROWS:2 * ROWS], texts[2 * ROWS:]]
    chunks[0][5_000], chunks[2][17] = " ", None  # blanks in the first chunk only, a null later
    series = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.large_string())))
    column = numeric_column(series)
    expected = pd.to_numeric(pd.Series([t for chunk in chunks for t in chunk]), errors="coerce")
    assert column.missing == 2 and column.weights is None
    np.testing.assert_array_equal(column.values, expected.dropna().to_numpy())


def test_finite_values_are_kept_without_a_copy_and_others_count_missing() -> None:
    values = np.arange(10, dtype=np.float64)
    for bad in (np.nan, np.inf, -np.inf):
        with_bad = values.copy()
        with_bad[4] = bad
        column = numeric_column(pd.Series(with_bad))
        assert column.missing == 1 and 4.0 not in column.values and column.values.size == 9
    column = numeric_column(pd.Series(values))
    assert column.missing == 0 and column.values.tolist() == values.tolist()


@pytest.mark.parametrize("extra", [{}, {ROWS - 1: "2"}, {9_000: "x", 9_001: " "}, {12_000: None}, {100: "inf"}],
                         ids=["known", "unseen", "junk-and-blank", "null", "infinite"])
def test_few_numeric_texts_are_compared_and_equal_the_hashed_column(extra: dict[int, object]) -> None:
    values: list = [str(v) for v in np.random.default_rng(5).choice([0, 1], size=ROWS, p=[0.8, 0.2])]
    for row, value in extra.items():
        values[row] = value
    column = numeric_column(text_column(values))
    expected = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)
    expected = expected[np.isfinite(expected)]
    assert column.missing == ROWS - expected.size
    np.testing.assert_array_equal(expanded(column), np.sort(expected))


def test_few_numeric_texts_are_counted_without_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    series = text_column([str(v) for v in np.random.default_rng(6).choice([0, 1], size=ROWS)])

    def no_hashing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("value_counts was called")

    monkeypatch.setattr(pd.Series, "value_counts", no_hashing)
    column = numeric_column(series)
    assert sorted(column.values.tolist()) == [0.0, 1.0] and column.rows == ROWS


def expanded(column: NumericColumn) -> np.ndarray:
    """Every row's value, sorted: what a column stands for, however it is weighted."""
    weights = column.weights if column.weights is not None else np.ones(column.values.size, dtype=np.int64)
    return np.sort(np.repeat(column.values, weights))


@pytest.mark.parametrize("extra", [{}, {5: None, 9_000: None}, {6_000: "-3"}, {7: "12345678901"},
                                   {10_000: "1.5"}, {11_000: " "}, {4_100: "x"}],
                         ids=["plain", "null", "negative", "wide-span", "decimal", "blank", "junk"])
def test_integer_texts_are_cast_and_counted_like_to_numeric(extra: dict[int, object]) -> None:
    values: list = [str(v) for v in np.random.default_rng(9).integers(0, 73, ROWS)]
    for row, value in extra.items():
        values[row] = value
    column = numeric_column(text_column(values))
    expected = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna().to_numpy(np.float64)
    assert column.missing == ROWS - expected.size
    np.testing.assert_array_equal(expanded(column), np.sort(expected))


def test_integer_texts_are_counted_without_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    series = text_column([str(v) for v in np.random.default_rng(10).integers(0, 73, ROWS)])

    def no_hashing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("value_counts was called")

    monkeypatch.setattr(pd.Series, "value_counts", no_hashing)
    column = numeric_column(series)
    assert column.values.tolist() == list(range(73)) and column.rows == ROWS
