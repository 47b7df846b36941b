"""The streaming path's per-row split and samples: decided by each row's customerID alone.

Split: bucket = farmhash Fingerprint64(customerID) mod 1,000,000 (TensorFlow's
tf.strings.to_hash_bucket_fast, a fingerprint TensorFlow keeps stable across versions and
platforms); u = bucket / 1,000,000. A row is `test` when u < split.test_size, `validation`
when u < test_size + (1 - test_size) * train.validation_split, else `fit`. No shuffle of the
whole set, no stratification, and a row lands in the same split whatever file, shard, order
or chunk it arrives in.

Samples (the baselines' training rows, the validation rows calibration fits on): the rows
of a split with the k smallest priorities, priority = SipHash-2-4 of the customerID keyed
by train.seed (tf.strings.to_hash_bucket_strong). Also order-free, seeded, exactly k rows.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipeline.config import Config

FIT, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("fit", "validation", "test")
BUCKETS = 1_000_000
PRIORITY_BUCKETS = 2**63 - 1


def _ids(ids: np.ndarray) -> tf.Tensor:
    return tf.constant(np.asarray(ids, dtype=object).astype(str).astype(object), dtype=tf.string)


def split_of(ids: np.ndarray, test_size: float, validation_split: float) -> np.ndarray:
    """FIT / VALIDATION / TEST (int8) for each customerID."""
    if len(ids) == 0:
        return np.empty(0, np.int8)
    u = tf.strings.to_hash_bucket_fast(_ids(ids), BUCKETS).numpy() / BUCKETS
    validation_edge = test_size + (1.0 - test_size) * validation_split
    return np.where(u < test_size, TEST, np.where(u < validation_edge, VALIDATION, FIT)).astype(np.int8)


def config_split(ids: np.ndarray, config: Config) -> np.ndarray:
    """split_of with the configured proportions."""
    return split_of(ids, config.split.test_size, config.train.validation_split)


def priority_of(ids: np.ndarray, seed: int) -> np.ndarray:
    """Seeded sample priority (int64, non-negative) of each customerID."""
    if len(ids) == 0:
        return np.empty(0, np.int64)
    key = [int(seed) & (2**63 - 1), 0x6368_7572_6E]  # second word: "churn", fixed
    return tf.strings.to_hash_bucket_strong(_ids(ids), PRIORITY_BUCKETS, key=key).numpy()


class SmallestK:
    """The k smallest priorities seen so far, in bounded memory; `cutoff` is the largest of
    them once k were seen (a row is in the sample when its priority <= cutoff)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.kept = np.empty(0, np.int64)

    def add(self, priorities: np.ndarray) -> None:
        merged = np.concatenate([self.kept, priorities])
        if merged.size > self.k:
            merged = np.partition(merged, self.k - 1)[: self.k]
        self.kept = merged

    @property
    def cutoff(self) -> int:
        return int(self.kept.max()) if self.kept.size else -1
