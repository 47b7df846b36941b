"""Micro-batching: concurrent requests share one model call, as TF Serving's batching does.

Requests validated in the same event-loop turn are scored together. With the NumPy engine
a call costs microseconds, so nothing waits longer than that turn (window 0) and the call
runs on the loop; a request with no other in flight is scored at once. With the SavedModel
engine a call costs about 0.4 ms or more whatever the batch size, so the first request of a
batch waits `serve.batch_window_ms` for company and the call runs on a worker thread
(TensorFlow releases the GIL), while the next batch gathers.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pipeline.serving.instances import Batch, concat_batches
from pipeline.serving.scorer import Outputs, Scorer


class MicroBatcher:
    """Answers batches for one Scorer (its signature outputs), grouping the ones that arrive
    together."""

    def __init__(self, scorer: Scorer, window_ms: float = 0.0, threaded: bool = False) -> None:
        self.scorer = scorer
        self.window_s = window_ms / 1000.0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model") if threaded else None
        self._pending: list[tuple[Batch, asyncio.Future]] = []
        self._busy = False

    @classmethod
    def for_scorer(cls, scorer: Scorer, window_ms: float) -> MicroBatcher:
        """No waiting and no thread for the NumPy engine; both for the SavedModel."""
        slow = scorer.engine == "savedmodel"
        return cls(scorer, window_ms if slow else 0.0, threaded=slow)

    async def outputs(self, batch: Batch, alone: bool = False) -> Outputs:
        """The outputs for `batch`, computed in one model call with its neighbours. `alone`:
        the caller is the only request in flight; with the NumPy engine it is then scored at
        once, in the caller's turn (no one could join it)."""
        if alone and self._executor is None and not self._busy:
            return self.scorer.outputs(batch)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((batch, future))
        if not self._busy:
            self._busy = True
            self._schedule(loop)
        return await future

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.window_s > 0:
            loop.call_later(self.window_s, self._run, loop)
        else:
            loop.call_soon(self._run, loop)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        taken, self._pending = self._pending, []
        batches = [batch for batch, _ in taken]
        if self._executor is None:
            self._deliver(loop, taken, _score_all(self.scorer, batches))
        else:
            work = loop.run_in_executor(self._executor, _score_all, self.scorer, batches)
            work.add_done_callback(lambda done: self._deliver(loop, taken, _result(done)))

    def _deliver(self, loop: asyncio.AbstractEventLoop, taken: list[tuple[Batch, asyncio.Future]],
                 outcome: list[Outputs] | BaseException) -> None:
        for index, (_, future) in enumerate(taken):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome[index])
        if self._pending:
            self._schedule(loop)
        else:
            self._busy = False


def _score_all(scorer: Scorer, batches: list[Batch]) -> list[Outputs] | BaseException:
    """Per batch outputs from one model call; an exception is returned, not raised, so every
    waiting request gets it."""
    try:
        if len(batches) == 1:
            return [scorer.outputs(batches[0])]
        joint = scorer.outputs(concat_batches(batches))
    except Exception as exc:  # noqa: BLE001 - delivered to each waiting request
        return exc
    ends = np.cumsum([len(batch) for batch in batches])
    return [{name: values[start:end] for name, values in joint.items()}
            for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def _result(done: asyncio.Future) -> list[Outputs] | BaseException:
    if done.cancelled():
        return RuntimeError("model call cancelled (server stopping)")
    return done.exception() or done.result()
