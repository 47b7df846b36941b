"""`churn serve` start-up: wall time from starting the process to its first 200 on a predict
route, median and spread over several starts, and whether the server imported TensorFlow.

    .venv/bin/python bench/bench_serve_start.py --model RUN_DIR|REF [--starts 5] [--engine numpy]

Each start is a fresh process (no warm state but the OS page cache); the client posts one
instance every 20 ms until the answer is a 200. Extra arguments after `--` go to `churn serve`
(for example `-- --verify`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTE = "/v1/models/churn:predict"
POLL_S = 0.02
TIMEOUT_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="REF or run directory")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("serve_args", nargs="*", help="more `churn serve` arguments (after --)")
    args = parser.parse_args()
    from pipeline.serving.instances import EXAMPLE_INSTANCE

    body = json.dumps({"instances": [EXAMPLE_INSTANCE]}).encode()
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    try:
        times = [start_once(args.model, args.engine, args.serve_args, body, work, n) for n in range(args.starts)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"churn serve --engine {args.engine} {' '.join(args.serve_args)}: start to first 200, "
          f"{len(times)} starts: median {statistics.median(times):.2f} s, spread {min(times):.2f} to "
          f"{max(times):.2f} s (load average {os.getloadavg()[0]:.1f})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_once(model: str, engine: str, extra: list[str], body: bytes, work: Path, number: int) -> float:
    port = free_port()
    command = [str(ROOT / ".venv/bin/churn"), "serve", "--model", model, "--port", str(port), "--engine", engine,
               "--set", f"paths.artifacts={work / f'artifacts{number}'}", *extra]
    started = time.perf_counter()
    log = (work / f"serve{number}.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        while True:
            if process.poll() is not None:
                sys.exit(f"server exited: {(work / f'serve{number}.log').read_text()[-2000:]}")
            if time.perf_counter() - started > TIMEOUT_S:
                sys.exit(f"no 200 after {TIMEOUT_S:g} s")
            if _post(port, body) == 200:
                return time.perf_counter() - started
            time.sleep(POLL_S)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _post(port: int, body: bytes) -> int | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{ROUTE}", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


if __name__ == "__main__":
    main()
