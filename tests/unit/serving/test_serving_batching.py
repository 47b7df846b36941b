"""Micro-batching: requests that arrive together share one model call, each gets its rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pipeline.serving.batching import MicroBatcher, ScoredRow
from pipeline.serving.scorer import Scorer, interval_table, sample_batch


@pytest.fixture
def calls(tmp_path) -> list[int]:
    return []


def make_scorer(tmp_path, calls: list[int], engine: str = "numpy", fail: bool = False) -> Scorer:
    (tmp_path / "intervals.json").write_text('{"edges": [0, 0.5, 1], "lower": [0.1, 0.6], "upper": [0.4, 0.9]}')

    def predict(numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        calls.append(len(numeric))
        if fail:
            raise ValueError("model exploded")
        return numeric[:, 1] / 100.0  # tenure / 100: each row's answer is recognisable

    return Scorer("churn", "1", engine, 0.5, interval_table(tmp_path), predict)


def batch_with_tenures(*tenures: int):
    batch = sample_batch(len(tenures))
    batch.numeric[:, 1] = tenures
    return batch


async def arrays(batcher: MicroBatcher, batch):
    """A request's outputs as arrays, whether it got them as such or as a ScoredRow."""
    scored = await batcher.score(batch)
    return scored.outputs() if isinstance(scored, ScoredRow) else scored


async def score_together(batcher: MicroBatcher, *batches):
    return await asyncio.gather(*(arrays(batcher, batch) for batch in batches))


def test_concurrent_requests_share_one_call(tmp_path, calls: list[int]) -> None:
    batcher = MicroBatcher.for_scorer(make_scorer(tmp_path, calls), window_ms=5.0)
    assert batcher.window_s == 0 and batcher._executor is None  # NumPy engine: no wait, no thread
    results = asyncio.run(score_together(batcher, batch_with_tenures(10), batch_with_tenures(20, 70),
                                         batch_with_tenures(30)))
    assert calls == [4]
    # float32 answers, as the SavedModel gives them
    assert [r["churn_probability"].tolist() for r in results] == [pytest.approx(p) for p in ([0.1], [0.2, 0.7], [0.3])]
    assert results[1]["churn"].tolist() == [False, True]
    assert results[1]["interval"][:, 1].tolist() == pytest.approx([0.4, 0.9])


def test_savedmodel_engine_waits_for_company_on_a_thread(tmp_path, calls: list[int]) -> None:
    batcher = MicroBatcher.for_scorer(make_scorer(tmp_path, calls, engine="savedmodel"), window_ms=20.0)

    async def staggered():
        first = asyncio.ensure_future(arrays(batcher, batch_with_tenures(10)))
        await asyncio.sleep(0.005)  # inside the window: joins the same call
        return await asyncio.gather(first, arrays(batcher, batch_with_tenures(40)))

    try:
        results = asyncio.run(staggered())
    finally:
        batcher.close()
    assert calls == [2]
    assert [r["churn_probability"].tolist() for r in results] == [pytest.approx([0.1]), pytest.approx([0.4])]


def test_a_failing_model_call_fails_every_waiting_request(tmp_path, calls: list[int]) -> None:
    batcher = MicroBatcher.for_scorer(make_scorer(tmp_path, calls, fail=True), window_ms=0)

    async def both():
        return await asyncio.gather(arrays(batcher, batch_with_tenures(1)), arrays(batcher, batch_with_tenures(2)),
                                    return_exceptions=True)

    results = asyncio.run(both())
    assert all(isinstance(r, ValueError) for r in results)
    assert not batcher._busy  # the next request starts a new call


def test_one_instance_requests_that_share_a_call_get_its_rows_as_python_values(tmp_path, calls: list[int]) -> None:
    batcher = MicroBatcher.for_scorer(make_scorer(tmp_path, calls), window_ms=0)

    async def together():
        return await asyncio.gather(*(batcher.score(batch_with_tenures(t)) for t in (10, 60, 30)))

    rows = asyncio.run(together())
    assert calls == [3] and all(isinstance(row, ScoredRow) for row in rows)
    assert [row.values["churn"] for row in rows] == [False, True, False]
    for row, tenure in zip(rows, (10, 60, 30), strict=True):
        alone = batcher.scorer.outputs(batch_with_tenures(tenure))
        assert {name: values.tolist()[0] for name, values in alone.items()} == row.values
        assert {name: values.tolist() for name, values in row.outputs().items()} == \
            {name: values.tolist() for name, values in alone.items()}
        assert {name: values.dtype for name, values in row.outputs().items()} == \
            {name: values.dtype for name, values in alone.items()}


def test_one_instance_batches_join_from_their_rows_as_arrays_would() -> None:
    from pipeline.serving.instances import EXAMPLE_INSTANCE, Batch, concat_batches, parse_request

    rows = [dict(EXAMPLE_INSTANCE, tenure=tenure, gender=gender) for tenure, gender in
            ((1, "Male"), (70, "Female"), (12, "Male"))]
    singles = [parse_request({"instances": [row]}, "tfserving", 10).batch for row in rows]
    assert all(batch._numbers is not None for batch in singles) and [len(b) for b in singles] == [1, 1, 1]
    whole = parse_request({"instances": rows}, "tfserving", 10).batch
    as_arrays = [Batch(b.numeric, b.codes, b.customer_ids) for b in singles]
    for joined in (concat_batches(singles), concat_batches(as_arrays), concat_batches([singles[0], *as_arrays[1:]])):
        assert len(joined) == 3 and joined.customer_ids == [None] * 3
        assert joined.numeric.dtype == whole.numeric.dtype and joined.codes.dtype == whole.codes.dtype
        np.testing.assert_array_equal(joined.numeric, whole.numeric)
        np.testing.assert_array_equal(joined.codes, whole.codes)
