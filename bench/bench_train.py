"""Training throughput, peak memory and quality: in-memory vs streaming `churn train`, and
a bare Keras fit of the same network on pre-encoded arrays, at 1M and 10M generated rows.

Each measurement runs in its own process (peak RSS is per process: ru_maxrss). Data are
generated once per size on disk with `churn data`'s chunked writer (CSV, or Parquet shards).
Figures are printed as ratios within one run:
- streaming fit / bare fit: training rows per second of the streaming path's fit (network built,
  tf.data input made, model.fit with its validation pass) against the bare model.fit on NumPy
  arrays already encoded (target >= 0.70); also with the streaming model.fit call alone (the
  bare figure times only model.fit: the network is built and compiled before its clock starts);
- whole step rows/s (every stage: load, fit, baselines, evaluation, export);
- peak RSS of streaming at the largest size / at the smallest (target <= 1.5);
- streaming minus in-memory test ROC-AUC on the same rows (target within 0.005).

    .venv/bin/python bench/bench_train.py                         # 1M and 10M rows, 1 epoch
    .venv/bin/python bench/bench_train.py --sizes 100000 --kinds streaming,bare --repeat 3
    .venv/bin/python bench/bench_train.py --sizes 1000000 --format parquet --shards 8
The in-memory step is skipped above --memory-max-rows (default 1M: it holds the whole set).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("memory", "streaming", "bare")


def _config(workdir: Path, epochs: int) -> object:
    from pipeline.config import load_config

    return load_config(None, [f"paths.artifacts={workdir}", f"train.epochs={epochs}", "train.tensorboard=false",
                              "train.batch_size=256"], environ={})


def child_train(kind: str, data: str, epochs: int, workdir: Path) -> dict:
    """`churn train` (in memory or streaming) on the data; the fit phase (the path's fit
    function: network built, input pipelines made, model.fit) and its keras fit call alone are
    timed too."""
    import keras

    from pipeline.training import streaming, train

    fit_seconds: list[float] = []
    call_seconds: list[float] = []
    fit_rows: list[int] = []

    def timed(original, into=fit_seconds):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = original(*args, **kwargs)
            into.append(time.perf_counter() - started)
            return result
        return wrapper

    keras.Model.fit = timed(keras.Model.fit, call_seconds)  # type: ignore[method-assign]

    if kind == "streaming":
        original = streaming.fit_streaming

        def counted(cache, summary, *rest):
            fit_rows.append(summary.split_rows[0])
            return timed(original)(cache, summary, *rest)
        streaming.fit_streaming = counted  # type: ignore[assignment]
    else:
        original_keras = train.fit_keras

        def counted_keras(frames, *rest):
            fit_rows.append(len(frames.fit))
            return timed(original_keras)(frames, *rest)
        train.fit_keras = counted_keras  # type: ignore[assignment]
    started = time.perf_counter()
    run = train.train_run(_config(workdir, epochs), data, workdir / f"run_{kind}_{os.getpid()}",
                          streaming=kind == "streaming")
    seconds = time.perf_counter() - started
    metrics = json.loads((run / "metrics.json").read_text())
    return {"seconds": seconds, "fit_seconds": fit_seconds[0], "call_seconds": call_seconds[0],
            "fit_rows": fit_rows[0],
            "rows": metrics["rows"], "roc_auc": metrics["test"]["keras"]["roc_auc"]}


def child_bare(data: str, epochs: int, workdir: Path) -> dict:
    """The same network (Dense 64-32-1, adam, AUC metric, batch 256) on already-encoded arrays."""
    import keras
    import numpy as np
    import pandas as pd

    from pipeline.config import load_config
    from pipeline.training import schema, sources

    frame = pd.concat([c.frame for c in sources.open_source(data, load_config(None, [], environ={})).chunks(1 << 20)],
                      ignore_index=True)
    numeric = frame[list(schema.NUMERIC_FEATURES)].to_numpy(np.float32)
    numeric = (numeric - numeric.mean(axis=0)) / numeric.std(axis=0)
    parts = [numeric]
    for name in schema.CATEGORICAL_FEATURES:
        codes = pd.Categorical(frame[name], categories=list(schema.CATEGORICAL_VALUES[name])).codes
        parts.append(np.eye(len(schema.CATEGORICAL_VALUES[name]) + 1, dtype=np.float32)[codes + 1])
    x, y = np.concatenate(parts, axis=1), frame[schema.LABEL_COLUMN].to_numpy(np.float32)
    del frame, parts
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    # The network's own compile (model._compile: adam, binary cross-entropy, the AUC metric,
    # steps_per_execution 32): only the input differs, which is what the ratio is about.
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")], steps_per_execution=32)
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=256, validation_split=0.2, verbose=0)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "fit_seconds": seconds, "call_seconds": seconds, "fit_rows": int(len(x) * 0.8),
            "rows": len(x)}


def run_child(kind: str, data: str, epochs: int, workdir: Path) -> dict:
    """One measurement in a fresh process, with its peak RSS."""
    command = [sys.executable, __file__, "--child", kind, "--data", data, "--epochs", str(epochs),
               "--workdir", str(workdir)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{kind} on {data} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_data(rows: int, workdir: Path, fmt: str, shards: int) -> str:
    from pipeline.tools import synth_files

    if fmt == "parquet":
        synth_files.write_parquet_shards(rows, 1, workdir / f"data_{rows}", shards)
        return str(workdir / f"data_{rows}")
    return str(synth_files.write_csv(rows, 1, workdir / f"data_{rows}.csv"))


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds per size (medians and ranges printed)")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--memory-max-rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=KINDS)
    parser.add_argument("--data")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.child:
        result = (child_bare(args.data, args.epochs, args.workdir) if args.child == "bare"
                  else child_train(args.child, args.data, args.epochs, args.workdir))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    kinds = args.kinds.split(",")
    results: dict[tuple[int, str], list[dict]] = {}
    print(f"{'rows':>11} {'kind':>10} {'step rows/s':>22} {'fit rows/s':>22} {'model.fit rows/s':>22} "
          f"{'peak RSS MB':>20} {'ROC-AUC':>8}")
    for rows in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            data = make_data(rows, Path(tmp), args.format, args.shards)
            for _ in range(args.repeat):
                for kind in kinds:
                    if kind == "memory" and rows > args.memory_max_rows:
                        continue
                    results.setdefault((rows, kind), []).append(run_child(kind, data, args.epochs, Path(tmp)))
        for kind in kinds:
            done = results.get((rows, kind))
            if not done:
                continue
            step = [rows * args.epochs / r["seconds"] for r in done]
            fit = [r["fit_rows"] * args.epochs / r["fit_seconds"] for r in done]
            call = [r["fit_rows"] * args.epochs / r["call_seconds"] for r in done]
            auc = statistics.median(r.get("roc_auc", float("nan")) for r in done)
            print(f"{rows:>11,} {kind:>10} {spread(step):>22} {spread(fit):>22} {spread(call):>22} "
                  f"{spread([r['peak_rss_mb'] for r in done]):>20} {auc:>8.4f}")
    print_ratios(results, args.epochs)


def print_ratios(results: dict[tuple[int, str], list[dict]], epochs: int) -> None:
    def median(rows: int, kind: str, key: str) -> float | None:
        done = results.get((rows, kind))
        if not done:
            return None
        if key == "fit_rate":
            return statistics.median(r["fit_rows"] * epochs / r["fit_seconds"] for r in done)
        if key == "call_rate":
            return statistics.median(r["fit_rows"] * epochs / r["call_seconds"] for r in done)
        if key == "step_rate":
            return statistics.median(r["rows"] * epochs / r["seconds"] for r in done)
        return statistics.median(r[key] for r in done)

    sizes = sorted({rows for rows, _ in results})
    for rows in sizes:
        stream, bare, memory = (median(rows, k, "fit_rate") for k in ("streaming", "bare", "memory"))
        if stream and bare:
            call = median(rows, "streaming", "call_rate")
            print(f"{rows:,} rows: streaming fit / bare fit = {stream / bare:.2f} (target >= 0.70); "
                  f"streaming model.fit alone / bare = {call / bare:.2f}; "
                  f"streaming whole step / bare fit = {median(rows, 'streaming', 'step_rate') / bare:.2f}")
        if memory and bare:
            print(f"{rows:,} rows: in-memory fit / bare fit = {memory / bare:.2f}; "
                  f"in-memory whole step / bare fit = {median(rows, 'memory', 'step_rate') / bare:.2f}")
        auc_s, auc_m = median(rows, "streaming", "roc_auc"), median(rows, "memory", "roc_auc")
        if auc_s is not None and auc_m is not None:
            print(f"{rows:,} rows: streaming - in-memory test ROC-AUC = {auc_s - auc_m:+.4f} (target within 0.005)")
    streamed = [rows for rows in sizes if (rows, "streaming") in results]
    if len(streamed) > 1:
        low, high = median(streamed[0], "streaming", "peak_rss_mb"), median(streamed[-1], "streaming", "peak_rss_mb")
        print(f"streaming peak RSS {streamed[-1]:,} / {streamed[0]:,} rows = {high / low:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
