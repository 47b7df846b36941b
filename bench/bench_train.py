"""Training throughput and peak memory at 100k and 1M generated rows, and `make all` time.

Each size runs in its own process (peak RSS is per process). The figure that matters is
printed as a ratio against a baseline measured in the same run: the same Keras network fit
on pre-encoded NumPy arrays (no loading, validation, baselines, evaluation or export).

    .venv/bin/python bench/bench_train.py                 # 100k and 1M rows, 1 epoch
    .venv/bin/python bench/bench_train.py --sizes 100000 --epochs 2 --make-all
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_pipeline(rows: int, epochs: int, workdir: Path) -> dict:
    """Our full `churn train` step on `rows` generated rows."""
    from pipeline.config import load_config
    from pipeline.tools import synth
    from pipeline.training.train import train_run

    data = workdir / f"data_{rows}.csv"
    synth.write_customers(synth.generate_customers(rows, seed=1), data)
    config = load_config(None, [f"paths.artifacts={workdir}", f"train.epochs={epochs}", "train.tensorboard=false",
                                "train.batch_size=256"], environ={})
    started = time.perf_counter()
    train_run(config, data, workdir / f"run_{rows}")
    return {"seconds": time.perf_counter() - started}


def child_baseline(rows: int, epochs: int, workdir: Path) -> dict:
    """The bare network on already-encoded arrays: what training alone costs."""
    import keras
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from pipeline.tools import synth
    from pipeline.training import schema

    frame = synth.generate_customers(rows, seed=1)
    frame["TotalCharges"] = frame["TotalCharges"].str.strip().replace("", "0").astype(float)
    encoder = ColumnTransformer([("n", StandardScaler(), list(schema.NUMERIC_FEATURES)),
                                 ("c", OneHotEncoder(sparse_output=False), list(schema.CATEGORICAL_FEATURES))])
    x = encoder.fit_transform(frame).astype("float32")
    y = (frame["Churn"] == "Yes").to_numpy("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=256, validation_split=0.2, verbose=0)
    return {"seconds": time.perf_counter() - started}


def run_child(kind: str, rows: int, epochs: int, workdir: Path) -> dict:
    """Run one measurement in a fresh process; add its peak RSS."""
    command = [sys.executable, __file__, "--child", kind, "--rows", str(rows), "--epochs", str(epochs),
               "--workdir", str(workdir)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def time_make_all() -> float:
    """`make all` with the environment already installed (setup is a no-op then)."""
    subprocess.run(["make", "setup"], cwd=ROOT, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(["make", "all"], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--make-all", action="store_true", help="also time `make all` (minus installation)")
    parser.add_argument("--child", choices=["pipeline", "baseline"])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.child:
        result = (child_pipeline if args.child == "pipeline" else child_baseline)(args.rows, args.epochs, args.workdir)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    from pipeline.core.tensorflow_setup import configure_tensorflow

    configure_tensorflow()
    print(f"{'rows':>10} {'pipeline rows/s':>16} {'bare fit rows/s':>16} {'ratio':>7} {'peak RSS MB':>12}")
    for rows in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_child("pipeline", rows, args.epochs, Path(tmp))
            bare = run_child("baseline", rows, args.epochs, Path(tmp))
        ours_rate, bare_rate = rows * args.epochs / ours["seconds"], rows * args.epochs / bare["seconds"]
        print(f"{rows:>10,} {ours_rate:>16,.0f} {bare_rate:>16,.0f} {ours_rate / bare_rate:>7.2f} "
              f"{ours['peak_rss_mb']:>12,.0f}")
    if args.make_all:
        print(f"make all (installed already): {time_make_all():.1f} s")


if __name__ == "__main__":
    main()
