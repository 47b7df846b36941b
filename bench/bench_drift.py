"""Drift statistics at scale: the pipeline's NumPy core against Evidently's DataDriftPreset.

Generates reference and current customers (all 19 features as text, as a prediction log
holds them; Contract and MonthlyCharges shifted in current), writes both to Parquet, then
times, each in its own process so peak memory is its own:
  - ours: compute_baseline(reference) + compare(baseline, current), reading excluded;
  - Evidently 0.7 DataDriftPreset on the same files, in a side virtual environment
    (.venv-evidently/, created on first use: Evidently 0.7 does not import with pandas 3).

Ours computes TFDV's statistics (each side's 10-bucket standard histogram, aligned on the
union of edges), as `churn monitor` does. With --rounds N, ours and Evidently alternate N
times and the ratio is reported as the median of the rounds with its spread.

    .venv/bin/python bench/bench_drift.py [--rows 1000000] [--rounds 3] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.monitoring.compare import compare  # noqa: E402
from pipeline.monitoring.histogram import STANDARD_BUCKETS  # noqa: E402
from pipeline.monitoring.stats import compute_baseline  # noqa: E402
from pipeline.tools.synth import generate_customers  # noqa: E402
from pipeline.training.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES  # noqa: E402

EVIDENTLY_ENV = ROOT / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.*", "pandas<3", "pyarrow")
EVIDENTLY_SCRIPT = Path(__file__).with_name("_evidently_drift.py")
BINS = STANDARD_BUCKETS


def main() -> None:
    args = _parse_args()
    if args.measure_ours:
        reference_path, current_path = (Path(p) for p in args.measure_ours)
        print(json.dumps(measure_ours(reference_path, current_path, args.repeat, args.chunk_rows)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        reference_path, current_path = write_parquet(args.rows, Path(tmp))
        load = os.getloadavg()[0]
        python = None if args.skip_evidently else ensure_evidently_env(EVIDENTLY_ENV)
        rounds = []
        for _ in range(max(args.rounds, 1)):  # alternate, so a busy spell hits both sides
            ours = _run_json([sys.executable, __file__, "--measure-ours", str(reference_path),
                              str(current_path), "--repeat", str(args.repeat),
                              "--chunk-rows", str(args.chunk_rows)])
            evidently = None
            if python is not None:
                evidently = _run_json([str(python), str(EVIDENTLY_SCRIPT), str(reference_path),
                                       str(current_path), "--numeric", ",".join(NUMERIC_FEATURES),
                                       "--categorical", ",".join(CATEGORICAL_FEATURES)])
            rounds.append((ours, evidently))
    print_report(args.rows, rounds, load)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows on each side")
    parser.add_argument("--skip-evidently", action="store_true", help="time only ours")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of ours per round (median)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of ours and Evidently")
    parser.add_argument("--chunk-rows", type=int, default=0,
                        help="feed current to compare() in chunks of this many rows (0: one)")
    parser.add_argument("--measure-ours", nargs=2, metavar=("REF", "CUR"), help=argparse.SUPPRESS)
    return parser.parse_args()


def write_parquet(rows: int, directory: Path) -> tuple[Path, Path]:
    """Reference and shifted current customers, every column as text, as Parquet."""
    paths = directory / "reference.parquet", directory / "current.parquet"
    as_log_text(generate_customers(rows, seed=1)).to_parquet(paths[0], index=False)
    current = shift(generate_customers(rows, seed=2), np.random.default_rng(2))
    as_log_text(current).to_parquet(paths[1], index=False)
    return paths


def shift(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Most customers on month-to-month contracts, monthly charges up by a third."""
    contracts = ["Month-to-month", "One year", "Two year"]
    frame["Contract"] = rng.choice(contracts, size=len(frame), p=[0.9, 0.05, 0.05])
    frame["MonthlyCharges"] = (frame["MonthlyCharges"] * 1.35).round(2)
    return frame


def as_log_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as strings, the way values come back from a JSON prediction log."""
    return frame.astype(str)


def measure_ours(reference_path: Path, current_path: Path, repeat: int,
                 chunk_rows: int) -> dict[str, Any]:
    """Median seconds of baseline + compare over `repeat` runs, and this process's peak RSS."""
    reference = pd.read_parquet(reference_path, columns=list(FEATURES))
    current = pd.read_parquet(current_path, columns=list(FEATURES))
    loaded_mb = _peak_rss_mb()
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        baseline = compute_baseline(reference, None, BINS)
        result = compare(baseline, _chunks(current, chunk_rows), {}, 0.3, 30)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    return {"seconds": statistics.median(seconds), "runs": seconds,
            "cpu_seconds": statistics.median(cpu_seconds), "peak_rss_mb": _peak_rss_mb(),
            "loaded_rss_mb": loaded_mb, "drifted_columns": sorted(result.drifted_features)}


def _chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame] | pd.DataFrame:
    if chunk_rows <= 0:
        return frame
    return (frame.iloc[start:start + chunk_rows] for start in range(0, len(frame), chunk_rows))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ensure_evidently_env(env: Path) -> Path:
    """The side environment's python, creating the environment on first use."""
    python = env / "bin" / "python"
    if python.exists() and _imports_evidently(python):
        return python
    print(f"creating {env} with {' '.join(EVIDENTLY_REQUIREMENTS)} ...", file=sys.stderr)
    uv = shutil.which("uv") or _existing(Path(sys.executable).with_name("uv"))
    base = shutil.which("python3") or sys.executable
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", base, str(env)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python)]
    else:
        subprocess.run([base, "-m", "venv", str(env)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*install, *EVIDENTLY_REQUIREMENTS], check=True)
    (env / ".gitignore").write_text("*\n", encoding="utf-8")  # never committed
    return python


def _imports_evidently(python: Path) -> bool:
    probe = subprocess.run([str(python), "-c", "import evidently.presets"], capture_output=True)
    return probe.returncode == 0


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _run_json(command: list[str]) -> dict[str, Any]:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{Path(command[1]).name} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_report(rows: int, rounds: list[tuple[dict[str, Any], dict[str, Any] | None]],
                 load: float) -> None:
    print(f"drift statistics: {rows:,} reference + {rows:,} current rows, "
          f"{len(FEATURES)} features as text; {os.cpu_count()} cores, load average {load:.1f} "
          "(other work slows the wall clock, CPU time less)")
    for number, (ours, evidently) in enumerate(rounds, start=1):
        runs = ", ".join(f"{s:.2f}" for s in ours["runs"])
        print(f"round {number}: ours baseline+compare {ours['seconds']:6.2f} s (median of {runs}; "
              f"CPU {ours['cpu_seconds']:.2f} s) peak RSS {ours['peak_rss_mb']:.0f} MB "
              f"(after loading data: {ours['loaded_rss_mb']:.0f} MB)")
        if evidently is not None:
            print(f"         Evidently DataDriftPreset {evidently['seconds']:6.2f} s "
                  f"(CPU {evidently['cpu_seconds']:.2f} s) peak RSS {evidently['peak_rss_mb']:.0f} MB; "
                  f"ratio {evidently['seconds'] / ours['seconds']:.1f}x")
    ours, evidently = rounds[-1]
    print(f"drifted (ours): {', '.join(ours['drifted_columns']) or '-'}")
    seconds = [o["seconds"] for o, _ in rounds]
    summary: dict[str, Any] = {"rows": rows, "rounds": len(rounds), "ours_seconds": statistics.median(seconds),
                               "ours_peak_rss_mb": max(o["peak_rss_mb"] for o, _ in rounds)}
    if evidently is not None:
        print(f"drifted (Evidently): {', '.join(evidently['drifted_columns']) or '-'}")
        ratios = [e["seconds"] / o["seconds"] for o, e in rounds if e is not None]
        cpu_ratios = [e["cpu_seconds"] / o["cpu_seconds"] for o, e in rounds if e is not None]
        print(f"ratio     {statistics.median(ratios):.1f}x faster than Evidently by wall clock "
              f"(median of {len(ratios)} rounds, {min(ratios):.1f}-{max(ratios):.1f}x; "
              f"CPU time: {statistics.median(cpu_ratios):.1f}x, {min(cpu_ratios):.1f}-{max(cpu_ratios):.1f}x)")
        summary.update(evidently_seconds=statistics.median(e["seconds"] for _, e in rounds if e),
                       evidently_peak_rss_mb=max(e["peak_rss_mb"] for _, e in rounds if e),
                       ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                       cpu_ratio=statistics.median(cpu_ratios))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
