"""A multi-worker training cluster on this machine: one `churn train` per task, each with its
TF_CONFIG, on free 127.0.0.1 ports (`make train-distributed`, and the tests).

    python -m pipeline.tools.local_cluster --workers 2 [--only chief] -- --data FILE --set ...

The chief's output is passed through (its last stdout line is the run directory); each
worker's goes to a log file whose path is printed on stderr. Exits with the first non-zero
exit code of a task, else 0. Tasks still running when another fails are ended (by their pid).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """Ports the system just handed out on 127.0.0.1 (closed again: TensorFlow binds them)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_configs(workers: int) -> list[dict]:
    """TF_CONFIG of each task: a chief and workers - 1 workers."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    cluster = {"chief": hosts[:1], "worker": hosts[1:]}
    tasks = [{"type": "chief", "index": 0}] + [{"type": "worker", "index": i} for i in range(workers - 1)]
    return [{"cluster": cluster, "task": task} for task in tasks]


def run_cluster(workers: int, train_args: list[str], only: str | None = None, logs: Path | None = None) -> int:
    """Start every task (or only the chief / only the workers), wait for all; the exit code."""
    logs = logs or Path(tempfile.mkdtemp(prefix="churn-cluster-"))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "CLUSTER_SPEC")}
    processes: list[tuple[str, subprocess.Popen]] = []
    for config in tf_configs(workers):
        name = f"{config['task']['type']}{config['task']['index']}"
        is_chief = config["task"]["type"] == "chief"
        if only == "chief" and not is_chief or only == "workers" and is_chief:
            continue
        command = [sys.executable, "-m", "pipeline", "train", *train_args]
        task_env = {**env, "TF_CONFIG": json.dumps(config)}
        if is_chief:
            processes.append((name, subprocess.Popen(command, env=task_env)))
        else:
            log = logs / f"{name}.log"
            print(f"{name}: {' '.join(config['cluster']['worker'][config['task']['index']:][:1])}, log {log}",
                  file=sys.stderr)
            with log.open("wb") as out:
                processes.append((name, subprocess.Popen(command, env=task_env, stdout=out, stderr=subprocess.STDOUT)))
    return wait_all(processes)


def wait_all(processes: list[tuple[str, subprocess.Popen]]) -> int:
    """The first non-zero exit code; once one task fails, the others are ended."""
    code = 0
    pending = list(processes)
    while pending:
        for item in list(pending):
            name, process = item
            try:
                returned = process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
            pending.remove(item)
            if returned != 0 and code == 0:
                code = returned
                print(f"{name} exited with {returned}: ending the other tasks", file=sys.stderr)
                for _, other in pending:
                    other.kill()  # TensorFlow catches SIGTERM (preemption notifier): only SIGKILL ends it
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Tasks in all, the chief included (>= 2).")
    parser.add_argument("--only", choices=("chief", "workers"), help="Start only these tasks (to test timeouts).")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `churn train` options.")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2 (one chief and one worker)")
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    return run_cluster(args.workers, train_args, args.only)


if __name__ == "__main__":
    sys.exit(main())
