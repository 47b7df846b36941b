"""`churn train --profile`: a TensorFlow profiler trace of a few training steps, and where their
time went: waiting on the input pipeline vs inside the train step.

The steps run on a fresh copy of the network (build_model again) over the training input
pipeline, after the run's own model is trained, so profiling changes no result of the run. The
trace goes where TensorBoard's Profile tab reads it (tensorboard-plugin-profile):
<run>/tensorboard/plugins/profile/<time>/<host>.xplane.pb; `make tensorboard` shows it.
Input time is the time `next()` on the dataset's iterator blocks (prefetching hides a fast
pipeline: then it is near zero); compute time is one train_on_batch (forward, backward, Adam).
The first steps are warm-up (tracing and compiling the step) and are neither traced nor timed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

WARMUP_STEPS = 2


def profile_steps(model: Any, dataset: Any, log_dir: Path, steps: int) -> dict[str, Any]:
    """Trace and time up to `steps` train steps of `model` over `dataset` (of (features, label)
    batches); returns the summary written to profile.json."""
    import tensorflow as tf

    log_dir.mkdir(parents=True, exist_ok=True)
    batches = iter(dataset.repeat())  # a tiny data set still gives `steps` steps
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(*next(batches))
    input_s, compute_s = [], []
    before = set(log_dir.rglob("*.xplane.pb"))
    tf.profiler.experimental.start(str(log_dir))
    try:
        for number in range(steps):
            with tf.profiler.experimental.Trace("train", step_num=number, _r=1):
                started = time.perf_counter()
                features, labels = next(batches)
                fetched = time.perf_counter()
                model.train_on_batch(features, labels)
                done = time.perf_counter()
            input_s.append(fetched - started)
            compute_s.append(done - fetched)
    finally:
        tf.profiler.experimental.stop()
    traces = sorted(set(log_dir.rglob("*.xplane.pb")) - before)
    return summary(input_s, compute_s, traces[-1] if traces else None)


def summary(input_s: list[float], compute_s: list[float], trace: Path | None) -> dict[str, Any]:
    """Totals, shares and per-step medians of input and compute time."""
    import statistics

    total = sum(input_s) + sum(compute_s)
    return {
        "steps": len(input_s),
        "input_s": round(sum(input_s), 6),
        "compute_s": round(sum(compute_s), 6),
        "input_share": round(sum(input_s) / total, 4) if total else 0.0,
        "median_input_ms": round(statistics.median(input_s) * 1000, 3) if input_s else 0.0,
        "median_compute_ms": round(statistics.median(compute_s) * 1000, 3) if compute_s else 0.0,
        "trace": str(trace) if trace else None,
    }


def describe(profile: dict[str, Any]) -> str:
    """One line for the terminal."""
    share = profile["input_share"]
    verdict = "input-bound" if share > 0.5 else "compute-bound"
    trace = profile["trace"] or "no trace written"
    return (f"profile of {profile['steps']} steps: input {share:.0%} ({profile['input_s']:.3f} s, median "
            f"{profile['median_input_ms']:.2f} ms/step), compute {1 - share:.0%} ({profile['compute_s']:.3f} s, "
            f"median {profile['median_compute_ms']:.2f} ms/step): {verdict}; trace {trace} "
            "(make tensorboard, Profile tab)")
