"""Counting a few known labels by their lengths and one byte gives what comparing them gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.monitoring import labels as label_module
from pipeline.monitoring.columns import category_counts
from pipeline.monitoring.labels import LabelKey, label_rows

SERVICE = ["No", "No internet service", "Yes"]  # lengths tell them apart
CONTRACT = ["Month-to-month", "One year", "Two year"]  # "One year", "Two year": the first byte
DIGITS = ["0", "1"]  # one length: the byte itself
UNTOLD = ["aa", "ab", "ba", "bb"]  # no single byte tells these four apart
ROWS = 12_000


def compared(arrow: pa.ChunkedArray, labels: list[str]) -> dict[str, int] | None:
    """The answer of one equality pass per label, non-null rows all accounted for."""
    found = {label: int(pc.sum(pc.equal(arrow, pa.scalar(label, arrow.type))).as_py() or 0) for label in labels}
    if sum(found.values()) + arrow.null_count != len(arrow):
        return None
    return {label: rows for label, rows in found.items() if rows}


def chunked(values: list, arrow_type: pa.DataType, sliced: bool) -> pa.ChunkedArray:
    """Several chunks; `sliced`: each a slice deep inside a larger array (offset != 0)."""
    parts = []
    for start in range(0, len(values), 5_000):
        part = values[start:start + 5_000]
        if sliced:
            parts.append(pa.array(["pad"] * 37 + part + ["pad"] * 5, arrow_type).slice(37, len(part)))
        else:
            parts.append(pa.array(part, arrow_type))
    return pa.chunked_array(parts, arrow_type)


def test_keys_name_labels_by_length_then_by_one_byte() -> None:
    assert LabelKey.of(SERVICE) is not None and not LabelKey.of(SERVICE).reads_byte
    assert LabelKey.of(CONTRACT).reads_byte and LabelKey.of(DIGITS).reads_byte
    assert LabelKey.of(["Yes", "Yex"]).position[3] == 2  # the first byte that differs
    assert LabelKey.of(UNTOLD) is None


@pytest.mark.parametrize("labels", [SERVICE, CONTRACT, DIGITS, UNTOLD, ["Female", "Male"]],
                         ids=["lengths", "length-and-byte", "one-byte", "untold", "gender"])
@pytest.mark.parametrize("odd", [
    {},
    {ROWS - 1: "Maybe"},  # another label, last
    {7_000: "Nx", 7_001: "Yez", 7_002: "Two yeaX", 7_003: "Month-tX-month", 7_004: "2", 7_005: "Femalf"},
    {4_000: ""},
    {5_500: "No internet servicf"},  # a known length and first byte, the last byte differs
    {8_000: None},
], ids=["known", "other", "near-misses", "empty", "last-byte", "null"])
@pytest.mark.parametrize(("arrow_type", "sliced"), [(pa.large_string(), False), (pa.string(), True)],
                         ids=["large", "sliced-32bit"])
def test_label_rows_equal_one_comparison_per_label(labels: list[str], odd: dict[int, object],
                                                   arrow_type: pa.DataType, sliced: bool) -> None:
    values: list = list(np.random.default_rng(11).choice(labels, size=ROWS))
    for row, value in odd.items():
        values[row] = value
    arrow = chunked(values, arrow_type, sliced)
    assert label_rows(arrow, labels) == compared(arrow, labels)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([*CONTRACT, "One yeax", "Two", "Month-to-montH", "One year "]), min_size=1,
                max_size=300), st.integers(1, 120))
def test_any_rows_and_chunking_count_as_compared(values: list[str], chunk_rows: int) -> None:
    arrow = pa.chunked_array([pa.array(values[start:start + chunk_rows], pa.large_string())
                              for start in range(0, len(values), chunk_rows)])
    assert label_rows(arrow, CONTRACT) == compared(arrow, CONTRACT)


def test_keyed_labels_are_counted_without_a_comparison_per_label(monkeypatch: pytest.MonkeyPatch) -> None:
    series = pd.Series(np.random.default_rng(12).choice(CONTRACT, size=ROWS), dtype="str")
    expected = series.value_counts(sort=False).to_dict()

    def no_comparison(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("pc.equal was called")

    monkeypatch.setattr(label_module.pc, "equal", no_comparison)
    assert category_counts(series, CONTRACT).counts == expected
