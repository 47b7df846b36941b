"""Counting text columns: the comparison fast path gives exactly what hashing gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.monitoring import columns
from pipeline.monitoring.columns import CategoryCounts, category_counts, numeric_column

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
