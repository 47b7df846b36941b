"""The streaming split and samples depend on each row's customerID alone."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.training import hashsplit

IDS = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=200, unique=True)


@settings(max_examples=40, deadline=None)
@given(ids=IDS, seed=st.integers(0, 2**31), cuts=st.lists(st.integers(0, 200), max_size=4))
def test_a_rows_split_and_priority_do_not_depend_on_order_or_sharding(ids: list[str], seed: int,
                                                                       cuts: list[int]) -> None:
    whole = dict(zip(ids, hashsplit.split_of(np.array(ids, dtype=object), 0.2, 0.2), strict=True))
    priority = dict(zip(ids, hashsplit.priority_of(np.array(ids, dtype=object), seed), strict=True))
    shuffled = list(np.random.default_rng(seed).permutation(np.array(ids, dtype=object)))
    bounds = [0, *sorted(min(c, len(ids)) for c in cuts), len(ids)]
    for low, high in zip(bounds, bounds[1:], strict=False):
        shard = np.array(shuffled[low:high], dtype=object)
        for key, split, rank in zip(shard, hashsplit.split_of(shard, 0.2, 0.2), hashsplit.priority_of(shard, seed),
                                    strict=True):
            assert split == whole[key] and rank == priority[key]


def test_proportions_follow_test_size_and_validation_split() -> None:
    ids = np.array([f"{i:04d}-ABCDE{i}" for i in range(40_000)], dtype=object)
    splits = hashsplit.split_of(ids, 0.2, 0.25)
    shares = np.bincount(splits, minlength=3) / len(ids)
    assert np.allclose(shares, [0.8 * 0.75, 0.8 * 0.25, 0.2], atol=0.01)


def test_the_smallest_k_priorities_are_kept_whatever_the_order() -> None:
    values = np.random.default_rng(1).permutation(10_000).astype(np.int64)
    kept = hashsplit.SmallestK(100)
    for chunk in np.array_split(values, 37):
        kept.add(chunk)
    assert kept.cutoff == 99 and sorted(kept.kept.tolist()) == list(range(100))
