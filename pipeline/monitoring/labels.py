"""Rows per label of an Arrow text column that holds a few known labels (Yes/No, Contract).

One equality pass per label costs about 5 ns a row per label on 1M rows, most of it the
comparison's branches on rows of random lengths. Most of the schema's label sets are told
apart by their length in bytes ("No", "Yes", "No internet service"), and the rest by their
length and one byte ("One year", "Two year" by the first; "0" and "1"): a `LabelKey` reads
each row's label slot from its length (offsets only) and at most one gathered byte, then a
chunk is checked to hold exactly those labels by building the column its slots name
(pc.take of the labels) and comparing the two character buffers, one memcmp. The equality
passes remain for label sets that no length and byte tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_BYTES = 256


@dataclass(frozen=True)
class LabelKey:
    """Each label's slot, looked up from a row's length and the byte at `position[length]`
    (0 where its length alone names it); slot len(labels) for a row that is none of them."""

    labels: list[str]
    slots: np.ndarray  # (longest label + 2) * 256 slots, by length * 256 + byte
    position: np.ndarray  # (longest label + 2,) byte read for rows of each length
    reads_byte: bool

    @classmethod
    def of(cls, labels: list[str]) -> LabelKey | None:
        """The key of `labels`, or None when some labels of one length differ at no single
        byte that tells them all apart."""
        encoded = [label.encode() for label in labels]
        sizes = {len(label) for label in encoded}
        longest = max(sizes)
        slots = np.full((longest + 2) * _BYTES, len(labels), dtype=np.int32)
        position = np.zeros(longest + 2, dtype=np.intp)
        for size in sizes:
            group = [(slot, label) for slot, label in enumerate(encoded) if len(label) == size]
            if len(group) == 1:
                slots[size * _BYTES:(size + 1) * _BYTES] = group[0][0]
                continue
            telling = [at for at in range(size) if len({label[at] for _, label in group}) == len(group)]
            if not telling:
                return None
            position[size] = telling[0]
            for slot, label in group:
                slots[size * _BYTES + label[telling[0]]] = slot
        return cls(labels, slots, position, reads_byte=len(sizes) < len(encoded))

    def row_slots(self, chunk: pa.Array) -> np.ndarray:
        """The slot of each row of a chunk without nulls."""
        lengths = np.minimum(pc.binary_length(chunk).to_numpy(zero_copy_only=False), len(self.position) - 1)
        index = lengths * _BYTES
        if self.reads_byte:
            offsets, data = _offsets(chunk), _data(chunk)
            at = np.minimum(offsets[:-1] + self.position[lengths], len(data) - 1)
            index += data[at]
        return self.slots[index]


def label_rows(arrow: pa.ChunkedArray, labels: list[str]) -> dict[str, int] | None:
    """Rows per label (labels with no row left out) of a column holding only `labels` and
    nulls; None when some row holds any other text."""
    key = LabelKey.of(labels) if not arrow.null_count else None
    found = _rows_by_key(arrow, key) if key is not None else _rows_by_comparison(arrow, labels)
    return None if found is None else {label: rows for label, rows in found.items() if rows}


def _rows_by_key(arrow: pa.ChunkedArray, key: LabelKey) -> dict[str, int] | None:
    label_array = pa.array(key.labels, arrow.type)
    rows = np.zeros(len(key.labels), dtype=np.int64)
    for chunk in arrow.chunks:
        if not len(chunk):
            continue
        slots = key.row_slots(chunk)
        counted = np.array([np.count_nonzero(slots == slot) for slot in range(len(key.labels))])
        if counted.sum() != len(chunk):  # a row of no label's length (and byte)
            return None
        if not _characters(chunk).equals(_characters(pc.take(label_array, pa.array(slots)))):
            return None  # a row that is not the label its length and byte name: none of them
        rows += counted
    return dict(zip(key.labels, rows.tolist(), strict=True))


def _rows_by_comparison(arrow: pa.ChunkedArray, labels: list[str]) -> dict[str, int] | None:
    found = {label: int(pc.sum(pc.equal(arrow, pa.scalar(label, arrow.type))).as_py() or 0)
             for label in labels}
    return found if sum(found.values()) + arrow.null_count == len(arrow) else None


def _offsets(strings: pa.Array) -> np.ndarray:
    width = 8 if pa.types.is_large_string(strings.type) else 4
    return np.frombuffer(strings.buffers()[1], dtype=f"<i{width}", count=len(strings) + 1,
                         offset=strings.offset * width)


def _data(strings: pa.Array) -> np.ndarray:
    data = strings.buffers()[2]
    return np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, dtype=np.uint8)


def _characters(strings: pa.Array) -> pa.Buffer:
    """The bytes of a string array's values, from its first value's to its last's."""
    offsets = _offsets(strings)
    first, last = int(offsets[0]), int(offsets[-1])
    data = strings.buffers()[2]
    return data.slice(first, last - first) if data is not None else pa.py_buffer(b"")
