"""The steps of `make all` after installation, timed one by one: every step does its real work
(data, training, upload, a real local endpoint with real HTTP traffic, a drift check on the
log, retraining with the gate, the model list, undeploy). Prints each step's median time over
the rounds, its spread (min-max), and the total.

    .venv/bin/python bench/bench_loop.py --rounds 3

Runs in a temporary artifacts folder on a free loopback port; touches nothing of the project's.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = [sys.executable, "-m", "pipeline"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def steps(work: Path) -> list[tuple[str, list[str]]]:
    data = work / "customer_churn.csv"
    return [
        ("data", ["data", "--rows", "7043", "--seed", "42", "--out", str(data)]),
        ("train", ["train", "--data", str(data)]),
        ("upload", ["upload", "<RUN>"]),
        ("deploy", ["deploy"]),
        ("simulate", ["simulate", "--rows", "300"]),
        ("simulate drifted", ["simulate", "--drift", "contract,fiber", "--rows", "2000"]),
        ("monitor", ["monitor", "--from-log", "--since", "15m", "--labels", "<SIM>/labels.csv"]),
        ("retrain", ["retrain", "--data", "<SIM>/labelled.csv"]),
        ("models list", ["models", "list"]),
        ("undeploy", ["undeploy"]),
    ]


def fill(arg: str, found: dict[str, str]) -> str:
    """An argument with the earlier steps' outputs (<RUN>, <SIM>) put in."""
    for placeholder, value in found.items():
        arg = arg.replace(placeholder, value)
    return arg


def one_round(work: Path) -> dict[str, float]:
    env = {**os.environ, "CHURN_CONFIG": str(ROOT / "configs" / "local.yaml"),
           "CHURN__PATHS__ARTIFACTS": str(work / "artifacts"), "CHURN__SERVE__PORT": str(free_port()),
           "CHURN__DATA__PATH": str(work / "customer_churn.csv")}
    env.pop("CHURN_API_TOKEN", None)
    found: dict[str, str] = {}
    timings: dict[str, float] = {}
    try:
        for name, args in steps(work):
            args = [fill(arg, found) for arg in args]
            started = time.perf_counter()
            done = subprocess.run(CHURN + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            timings[name] = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"step {name} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            if name == "train":
                found["<RUN>"] = last
            if name == "simulate drifted":
                found["<SIM>"] = last
    finally:
        subprocess.run(CHURN + ["undeploy"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="churn-bench-loop-") as tmp:
            rounds.append(one_round(Path(tmp)))
        print(f"round {number}: total {sum(rounds[-1].values()):.1f} s", flush=True)
    print(f"{'step':<18} {'median s':>9} {'min-max s':>13}")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"{name:<18} {statistics.median(values):>9.1f} {min(values):>6.1f}-{max(values):<6.1f}")
    totals = [sum(r.values()) for r in rounds]
    print(f"{'total':<18} {statistics.median(totals):>9.1f} {min(totals):>6.1f}-{max(totals):<6.1f}")


if __name__ == "__main__":
    main()
