"""The encoded instances of a predict request (built by pipeline.serving.instances, scored
by pipeline.serving.scorer, joined for shared model calls by concat_batches)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.training import schema

_VOCABULARY_SIZES = np.array([len(v) for v in schema.CATEGORICAL_VALUES.values()], dtype=np.intp)


class Batch:
    """Validated instances: numbers in schema.NUMERIC_FEATURES order (n, 4) float64, and
    category codes (index into schema.CATEGORICAL_VALUES[f], len(values) for an unknown
    value) in CATEGORICAL_FEATURES order (n, 15) intp.

    A one-instance request (most online traffic) is kept as its row of numbers and row of
    codes (`of_rows`), its arrays made when first read: requests that share a model call are
    joined from their rows in one NumPy call each (concat_batches), not two arrays per
    request and two concatenations. Treat a Batch as read-only."""

    __slots__ = ("_numeric", "_codes", "customer_ids", "_numbers", "_code_rows")

    def __init__(self, numeric: np.ndarray, codes: np.ndarray, customer_ids: list[str | None]) -> None:
        self._numeric: np.ndarray | None = numeric
        self._codes: np.ndarray | None = codes
        self.customer_ids = customer_ids
        self._numbers: list[Sequence[float]] | None = None
        self._code_rows: list[Sequence[int]] | None = None

    @classmethod
    def of_rows(cls, numbers: list[Sequence[float]], codes: list[Sequence[int]],
                customer_ids: list[str | None]) -> Batch:
        """A batch of rows of numbers and rows of codes (already checked), arrays made on first use."""
        batch = cls.__new__(cls)
        batch._numeric = batch._codes = None
        batch._numbers, batch._code_rows, batch.customer_ids = numbers, codes, customer_ids
        return batch

    @property
    def numeric(self) -> np.ndarray:
        if self._numeric is None:
            self._numeric = np.array(self._numbers, dtype=np.float64)
        return self._numeric

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            self._codes = np.array(self._code_rows, dtype=np.intp)
        return self._codes

    def __len__(self) -> int:
        return len(self._numbers) if self._numbers is not None else len(self.numeric)

    def has_unknown_categories(self) -> bool:
        """Whether a row holds a category outside the vocabulary (code len(values))."""
        return bool((self.codes >= _VOCABULARY_SIZES).any())

    def first_unknown_category(self) -> tuple[int, str]:
        """(instance, feature) of the first category outside the vocabulary."""
        row, column = np.argwhere(self.codes >= _VOCABULARY_SIZES)[0].tolist()
        return row, schema.CATEGORICAL_FEATURES[column]


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """One batch holding the rows of several, in order."""
    if all(batch._numbers is not None for batch in batches):
        return Batch.of_rows([row for batch in batches for row in batch._numbers],  # type: ignore[union-attr]
                             [row for batch in batches for row in batch._code_rows],  # type: ignore[union-attr]
                             [i for batch in batches for i in batch.customer_ids])
    return Batch(numeric=np.concatenate([b.numeric for b in batches]),
                 codes=np.concatenate([b.codes for b in batches]),
                 customer_ids=[i for b in batches for i in b.customer_ids])
