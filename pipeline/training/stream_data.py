"""The streaming path's one pass over the source, and the tf.data input built on it.

One pass reads and validates the source chunk by chunk and, in bounded memory:
- assigns each row its split by a hash of customerID (pipeline.training.hashsplit);
- accumulates the scaler's mean and variance over the training rows (fit + validation, as
  the in-memory path fits its StandardScaler), the category counts (the observed vocabulary,
  checked against the schema's, which the network's StringLookup layers hold), the data
  fingerprint, and the k smallest sample priorities of the fit and validation rows;
- writes every row, encoded (numbers as float64, categories as int8 codes into the schema's
  values, label, priority), to one Arrow IPC file per split in a scratch folder.
Epochs, scoring and statistics then read those files record batch by record batch
(memory-mapped), never the whole set; the source is read and validated once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import tensorflow as tf
from sklearn.preprocessing import StandardScaler

from pipeline.config import Config
from pipeline.training import hashsplit, schema
from pipeline.training.fingerprint import file_sha256
from pipeline.training.model import category_positions
from pipeline.training.sources import DataSource, check_both_classes

RECORD_ROWS = 8192  # rows per record batch of the scratch files: the shuffle's granularity
PRIORITY = "_priority"


class Moments:
    """Count, mean and sum of squared deviations per column, merged chunk by chunk (Chan et al.)."""

    def __init__(self, columns: int) -> None:
        self.n = 0
        self.mean = np.zeros(columns)
        self.m2 = np.zeros(columns)
        self.min = np.full(columns, np.inf)
        self.max = np.full(columns, -np.inf)

    def add(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        n_b, mean_b = len(values), values.mean(axis=0)
        m2_b = ((values - mean_b) ** 2).sum(axis=0)
        total = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / total
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / total
        self.n = total
        self.min = np.minimum(self.min, values.min(axis=0))
        self.max = np.maximum(self.max, values.max(axis=0))

    @property
    def variance(self) -> np.ndarray:
        return self.m2 / max(self.n, 1)


@dataclass
class PassSummary:
    """What the one pass learnt."""

    rows: int = 0
    positives: int = 0
    split_rows: list[int] = field(default_factory=lambda: [0, 0, 0])
    scaler: StandardScaler | None = None
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    baseline_cutoff: int = -1
    validation_cutoff: int = -1


class EncodedCache:
    """The scratch files of one pass: one Arrow IPC file per split."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, split: int) -> Path:
        return self.directory / f"{hashsplit.SPLIT_NAMES[split]}.arrow"

    def batches(self, split: int, order_seed: int | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of one split, in file order or in an order shuffled by `order_seed`."""
        with pa.memory_map(str(self.path(split))) as source:
            reader = ipc.open_file(source)
            order = np.arange(reader.num_record_batches)
            if order_seed is not None:
                np.random.default_rng(order_seed).shuffle(order)
            for index in order:
                yield reader.get_batch(int(index))

    def frames(self, split: int, rows_at_most: int = 1 << 18) -> Iterator[pd.DataFrame]:
        """Decoded validated frames (the loader's dtypes) of about `rows_at_most` rows."""
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in self.batches(split):
            pending.append(batch)
            count += batch.num_rows
            if count >= rows_at_most:
                yield decode(pa.Table.from_batches(pending))
                pending, count = [], 0
        if pending:
            yield decode(pa.Table.from_batches(pending))

    def sample(self, split: int, cutoff: int) -> pd.DataFrame:
        """Decoded rows of `split` whose priority is at most `cutoff` (hashsplit.SmallestK)."""
        parts = [frame[frame[PRIORITY] <= cutoff] for frame in self.frames(split)]
        frame = pd.concat(parts, ignore_index=True) if parts else decode(_empty_table())
        return frame.sort_values(PRIORITY, kind="stable").reset_index(drop=True)

    def dataset(self, split: int, batch_size: int, shuffle_rows: int | None = None,
                seed: int = 0) -> tf.data.Dataset:
        """((numeric_features, category_positions), label) mini-batches of one split, as
        model.encoded_view() takes them: numbers float32 (batch, numerics), one-hot positions
        int32 (batch, categoricals), label int64 (batch,). With `shuffle_rows`, each epoch reads
        the record batches in a seeded order and shuffles `shuffle_rows` rows at a time
        (reseeded per epoch; a bounded buffer, never the whole set).
        The Python generator runs once per block of ~`shuffle_rows` rows (numpy, vectorised);
        only tf.data's C++ rebatch and prefetch run per mini-batch, beside the train step."""
        epochs = iter(range(1 << 62))

        def blocks() -> Iterator[tuple[tuple[np.ndarray, np.ndarray], np.ndarray]]:
            epoch = next(epochs)
            order_seed = None
            if shuffle_rows is not None:
                order_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
            rng = np.random.default_rng([seed, epoch])
            limit = shuffle_rows or 1 << 16
            pending: list[pa.RecordBatch] = []
            count = 0
            for batch in self.batches(split, order_seed):
                pending.append(batch)
                count += batch.num_rows
                if count >= limit:
                    yield _block(pending, rng if shuffle_rows else None)
                    pending, count = [], 0
            if pending:
                yield _block(pending, rng if shuffle_rows else None)

        signature = ((tf.TensorSpec((None, len(schema.NUMERIC_FEATURES)), tf.float32),
                      tf.TensorSpec((None, len(schema.CATEGORICAL_FEATURES)), tf.int32)),
                     tf.TensorSpec((None,), tf.int64))
        dataset = tf.data.Dataset.from_generator(blocks, output_signature=signature).rebatch(batch_size)
        # Known steps per epoch: Keras sizes its progress and warns of nothing.
        steps = -(-self.rows(split) // batch_size)
        return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)

    def rows(self, split: int) -> int:
        """Rows of one split (from the record batches' headers)."""
        return sum(batch.num_rows for batch in self.batches(split))


def _block(batches: list[pa.RecordBatch], rng: np.random.Generator | None
           ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    table = pa.Table.from_batches(batches)
    order = rng.permutation(table.num_rows) if rng is not None else slice(None)
    numeric = np.stack([table.column(name).to_numpy() for name in schema.NUMERIC_FEATURES], axis=1)
    codes = np.stack([table.column(name).to_numpy() for name in schema.CATEGORICAL_FEATURES], axis=1)
    labels = table.column(schema.LABEL_COLUMN).to_numpy().astype(np.int64)
    return (numeric.astype(np.float32)[order], category_positions(codes)[order]), labels[order]


def encode(frame: pd.DataFrame, priorities: np.ndarray) -> pa.Table:
    """A validated frame as the scratch files hold it."""
    columns: dict[str, Any] = {}
    for name in schema.FEATURES:
        if schema.is_numeric(name):
            columns[name] = pa.array(frame[name].to_numpy(np.float64))
        else:
            codes = pd.Categorical(frame[name], categories=list(schema.CATEGORICAL_VALUES[name])).codes
            columns[name] = pa.array(codes.astype(np.int8))
    columns[schema.LABEL_COLUMN] = pa.array(frame[schema.LABEL_COLUMN].to_numpy(np.int8))
    columns[PRIORITY] = pa.array(priorities.astype(np.int64))
    return pa.table(columns)


def decode(table: pa.Table) -> pd.DataFrame:
    """Scratch rows back as the loader's validated frame (plus their priority)."""
    out: dict[str, Any] = {}
    for name in schema.FEATURES:
        values = table.column(name).to_numpy()
        out[name] = values if schema.is_numeric(name) else np.asarray(
            schema.CATEGORICAL_VALUES[name], dtype=object)[values.astype(np.int64)]
    out[schema.LABEL_COLUMN] = table.column(schema.LABEL_COLUMN).to_numpy().astype(np.int64)
    out[PRIORITY] = table.column(PRIORITY).to_numpy()
    return pd.DataFrame(out)


def _empty_table() -> pa.Table:
    return encode(pd.DataFrame({name: pd.Series(dtype=np.float64 if schema.is_numeric(name) else object)
                                for name in [*schema.FEATURES, schema.LABEL_COLUMN]}), np.empty(0, np.int64))


def first_pass(source: DataSource, config: Config, cache: EncodedCache, progress: Any = None) -> PassSummary:
    """Read and validate `source` once: statistics, samples and the encoded scratch files."""
    summary = PassSummary()
    numeric = list(schema.NUMERIC_FEATURES)
    train_moments, all_moments = Moments(len(numeric)), Moments(len(numeric))
    counts = {name: np.zeros(len(schema.CATEGORICAL_VALUES[name]), np.int64) for name in schema.CATEGORICAL_FEATURES}
    samples = {hashsplit.FIT: hashsplit.SmallestK(config.train.baseline_sample_rows),
               hashsplit.VALIDATION: hashsplit.SmallestK(config.train.validation_sample_rows)}
    digest = hashlib.sha256()
    cache.directory.mkdir(parents=True, exist_ok=True)
    writers: dict[int, ipc.RecordBatchFileWriter] = {}
    schema_arrow = _empty_table().schema
    try:
        for split in (hashsplit.FIT, hashsplit.VALIDATION, hashsplit.TEST):
            writers[split] = ipc.new_file(str(cache.path(split)), schema_arrow)
        for chunk in source.chunks(config.train.chunk_rows):
            frame = chunk.frame
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
            ids = frame[schema.ID_COLUMN].to_numpy(dtype=object)
            splits = hashsplit.config_split(ids, config)
            priorities = hashsplit.priority_of(ids, config.train.seed)
            values = frame[numeric].to_numpy(np.float64)
            all_moments.add(values)
            train_moments.add(values[splits != hashsplit.TEST])
            encoded = encode(frame, priorities)
            for name in schema.CATEGORICAL_FEATURES:
                counts[name] += np.bincount(encoded.column(name).to_numpy(), minlength=counts[name].size)
            for split, writer in writers.items():
                mask = splits == split
                summary.split_rows[split] += int(mask.sum())
                if mask.any():
                    writer.write_table(encoded.filter(pa.array(mask)), max_chunksize=RECORD_ROWS)
                if split in samples:
                    samples[split].add(priorities[mask])
            summary.rows += len(frame)
            summary.positives += int(frame[schema.LABEL_COLUMN].sum())
            if progress is not None:
                progress(summary.rows)
    finally:
        for writer in writers.values():
            writer.close()
    check_both_classes(source.spec, summary.positives, summary.rows, config)
    _check_splits(source.spec, summary.split_rows)
    summary.scaler = _scaler(train_moments)
    summary.categories = {name: {label: int(c) for label, c in zip(schema.CATEGORICAL_VALUES[name], counts[name],
                                                                    strict=True) if c}
                          for name in schema.CATEGORICAL_FEATURES}
    summary.baseline_cutoff = samples[hashsplit.FIT].cutoff
    summary.validation_cutoff = samples[hashsplit.VALIDATION].cutoff
    summary.fingerprint = _fingerprint(source, summary, all_moments, digest.hexdigest())
    return summary


def _check_splits(spec: str, split_rows: list[int]) -> None:
    from pipeline.errors import DataError

    empty = [hashsplit.SPLIT_NAMES[i] for i, rows in enumerate(split_rows) if rows == 0]
    if empty:
        raise DataError(f"{spec}: the {', '.join(empty)} split got no rows ({sum(split_rows):,} rows in all; "
                        "the hash split needs more rows)")


def _scaler(moments: Moments) -> StandardScaler:
    """A fitted StandardScaler as fit_scaler would return on the training rows."""
    scaler = StandardScaler()
    scaler.mean_, scaler.var_ = moments.mean.copy(), moments.variance.copy()
    scaler.scale_ = np.where(scaler.var_ > 0, np.sqrt(scaler.var_), 1.0)
    scaler.n_samples_seen_ = moments.n
    scaler.n_features_in_ = moments.mean.size
    return scaler


def _fingerprint(source: DataSource, summary: PassSummary, moments: Moments, rows_sha: str) -> dict[str, Any]:
    """data_fingerprint's document, from the pass (same keys and meanings)."""
    single = len(source.parts) == 1 and isinstance(source.parts[0].location, Path)
    columns: dict[str, Any] = {}
    for index, name in enumerate(schema.NUMERIC_FEATURES):
        columns[name] = {"type": "numeric", "min": float(moments.min[index]), "max": float(moments.max[index]),
                         "mean": round(float(moments.mean[index]), 6),
                         "std": round(math.sqrt(float(moments.variance[index])), 6)}
    for name in schema.CATEGORICAL_FEATURES:
        columns[name] = {"type": "categorical", "counts": dict(sorted(summary.categories[name].items()))}
    return {
        "path": source.spec,
        "sha256": file_sha256(source.parts[0].location) if single else rows_sha,
        "hash_of": "file" if single else "rows",
        "rows": summary.rows,
        "churn_rate": summary.positives / summary.rows if summary.rows else None,
        "columns": {name: columns[name] for name in schema.FEATURES},
    }
