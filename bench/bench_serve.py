"""Prediction-server benchmark: the server as users run it against a bare route and the
raw model call, in one run, on loopback, with one load generator for every case.

    ceiling  a bare Starlette route in the same uvicorn setup (pipeline.serving.server.run_uvicorn)
             that parses the same JSON body with orjson and returns a constant answer
    ours     `churn serve` (validation, intervals, durable prediction log, metrics)
    floor    the raw model call alone, in-process (NumPy fast path; SavedModel for reference)

Cases: 1 instance at 1 and at 32 connections; 100 instances at 1 connection.
Load: wrk (Debian package) with a Lua script when installed, else a bounded asyncio client;
every run is bounded in time (--duration) and, for the Python client, in request count.

    .venv/bin/python bench/bench_serve.py [--model RUN_DIR|REF] [--duration 3] [--rounds 5]

Targets (issue 12): 1-connection p50 within 0.25 ms of the bare route; 32-connection
throughput >= 50% of the bare route's; 100-instance p50 < 1.0 ms. Each figure is computed
per round from that round's bare and ours measurements (which alternate, the order flipping
every round), and reported as the median over rounds with the spread (min-max); a target
counts as met only when every round meets it, since a median alone hides a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "customer_churn.csv"
ROUTE = "/v1/models/churn:predict"
MAX_PY_REQUESTS = 2_000_000  # the Python client's hard cap, whatever the duration
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()
"""


@dataclass(frozen=True)
class Load:
    p50_ms: float
    rps: float
    requests: int
    errors: int


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.port)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="REF or run directory (default: train 1 epoch on the sample)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="bare/ours measurements alternate this many times per case (medians reported)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--log-sync", choices=("normal", "full"), default="normal")
    parser.add_argument("--engine", choices=("auto", "numpy", "savedmodel"), default="auto",
                        help="`churn serve --engine` (savedmodel: the fallback path, micro-batched)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def serve_bare(port: int) -> None:
    """The ceiling: parse the body with orjson, answer a constant, same uvicorn setup."""
    import orjson
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from pipeline.serving.server import bind_socket, run_uvicorn

    answer = orjson.dumps({"predictions": [{"churn_probability": 0.5, "interval": [0.4, 0.6], "churn": True}],
                           "deployedModelId": "bare", "modelVersionId": "0"})

    async def predict(request):  # noqa: ANN001, ANN202 - bench code
        orjson.loads(await request.body())
        return Response(answer, media_type="application/json")

    async def health(request):  # noqa: ANN001, ANN202
        return Response(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(routes=[Route(ROUTE, predict, methods=["POST"]), Route("/health", health)])
    run_uvicorn(app, bind_socket("127.0.0.1", port))


def run(args: argparse.Namespace, work: Path) -> None:
    model = args.model or train_quick_run(work)
    tool = pick_tool(args.tool)
    instances = sample_instances(100)
    bodies = {1: json.dumps({"instances": instances[:1]}), 100: json.dumps({"instances": instances})}
    print(f"load generator: {tool}; {args.rounds} rounds of {args.duration:g}s per server and case "
          f"(medians); model {model}; engine {args.engine}; log sync {args.log_sync}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    floor = measure_floor(model, instances)
    servers = start_servers(model, work, args.log_sync, args.engine)
    try:
        results: dict[tuple[str, int, int], list[Load]] = {}
        for size, connections in ((1, 1), (1, args.connections), (100, 1)):
            body_file = work / f"body{size}.json"
            body_file.write_text(bodies[size])
            for number in range(max(args.rounds, 1)):  # alternating, so load from elsewhere hits both alike
                order = list(servers) if number % 2 == 0 else list(reversed(servers))
                for name in order:
                    port = servers[name][0]
                    generate(tool, port, body_file, connections, 1.0)  # warm-up
                    load = generate(tool, port, body_file, connections, args.duration)
                    results.setdefault((name, size, connections), []).append(load)
    finally:
        stop_servers(servers)
    report(results, floor, args.connections)


def train_quick_run(work: Path) -> str:
    run_dir = work / "run"
    print("training a 1-epoch model for the benchmark ...", flush=True)
    subprocess.run([str(ROOT / ".venv/bin/churn"), "train", "--data", str(SAMPLE), "--run-dir", str(run_dir),
                    "--set", "train.epochs=1", "--set", "train.tensorboard=false"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return str(run_dir)


def pick_tool(choice: str) -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk not installed (apt-get install -y wrk), use --tool python")
    return choice


def sample_instances(count: int) -> list[dict]:
    import pandas as pd

    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False, nrows=count)
    frame = frame.drop(columns=["customerID", "Churn"])
    rows = []
    for record in frame.to_dict("records"):
        for name in ("SeniorCitizen", "tenure"):
            record[name] = int(record[name])
        record["MonthlyCharges"] = float(record["MonthlyCharges"])
        record["TotalCharges"] = float(record["TotalCharges"].strip() or 0)  # JSON numbers only, as TF Serving
        rows.append(record)
    return rows


def measure_floor(model: str, instances: list[dict]) -> dict[str, float]:
    """p50 of the model call alone, in-process, in ms."""
    from pipeline.config import load_config
    from pipeline.serving.instances import validate_payload
    from pipeline.serving.scorer import load_scorer

    config = load_config(None, [], environ={})
    fast = load_scorer(config, model, "numpy")
    reference = load_scorer(config, model, "savedmodel")
    floor = {}
    for size in (1, 100):
        batch, _ = validate_payload({"instances": instances[:size]}, 1000)
        floor[f"numpy_{size}"] = _p50_ms(lambda b=batch: fast.predict(b.numeric, b.codes), 2000)
        floor[f"savedmodel_{size}"] = _p50_ms(lambda b=batch: reference.predict(b.numeric, b.codes), 300)
    return floor


def _p50_ms(call, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(model: str, work: Path, log_sync: str, engine: str) -> dict[str, tuple[int, subprocess.Popen]]:
    ports = {"bare": free_port(), "ours": free_port()}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("CHURN_API_TOKEN", None)
    commands = {
        "bare": [sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(ports["bare"])],
        "ours": [str(ROOT / ".venv/bin/churn"), "serve", "--model", model, "--port", str(ports["ours"]),
                 "--log-sync", log_sync, "--engine", engine, "--set", f"paths.artifacts={work / 'artifacts'}"],
    }
    processes = {name: subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=(work / f"{name}.log").open("wb"), start_new_session=True)
                 for name, command in commands.items()}
    servers = {name: (ports[name], processes[name]) for name in ports}
    try:
        for name, (port, process) in servers.items():
            wait_healthy(port, process, work / f"{name}.log")
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    from pipeline.serving.local_endpoint import wait_until_healthy  # not at import: server children stay light

    problem = wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout)
    if problem == "exited":
        sys.exit(f"server exited: {log.read_text()[-2000:]}")
    if problem == "timeout":
        sys.exit(f"server on port {port} not healthy after {timeout:g}s")


def stop_servers(servers: dict[str, tuple[int, subprocess.Popen]]) -> None:
    processes = [process for _, process in servers.values()]
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def generate(tool: str, port: int, body_file: Path, connections: int, duration: float) -> Load:
    if tool == "wrk":
        return run_wrk(port, body_file, connections, duration)
    return asyncio.run(python_load(port, body_file.read_bytes(), connections, duration))


def run_wrk(port: int, body_file: Path, connections: int, duration: float) -> Load:
    script = body_file.with_suffix(".lua")
    script.write_text(LUA.format(body=body_file))
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{ROUTE}"], capture_output=True, text=True, timeout=duration + 30, check=True,
    ).stdout
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    done = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if not (p50 and rps and done):
        sys.exit(f"cannot read wrk output:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    failures = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return Load(float(p50.group(1)) * scale, float(rps.group(1)), int(done.group(1)), failures)


async def python_load(port: int, body: bytes, connections: int, duration: float) -> Load:
    """Keep-alive HTTP/1.1 clients on raw sockets, bounded by time and request count."""
    request = (f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + duration

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and len(latencies) < MAX_PY_REQUESTS:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors[0] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return Load(statistics.median(latencies) * 1000, len(latencies) / elapsed, len(latencies), errors[0])


@dataclass(frozen=True)
class Figure:
    """One target figure, computed per round; met only when every round meets it."""

    label: str
    per_round: list[float]
    unit: str
    target: str
    meets: object  # float -> bool

    def line(self) -> str:
        values = self.per_round
        held = sum(1 for value in values if self.meets(value))
        verdict = "MET " if held == len(values) else ("MISS" if not self.meets(statistics.median(values))
                                                      else "NOISY")
        return (f"  {verdict} {self.label}: median {statistics.median(values):{self.unit}}, "
                f"spread {min(values):{self.unit}} to {max(values):{self.unit}} "
                f"({self.target}; met in {held}/{len(values)} rounds)")


def figures(results: dict[tuple[str, int, int], list[Load]], connections: int) -> list[Figure]:
    """The issue's three figures, each from the bare and ours measurements of one round."""
    pairs = zip(results["ours", 1, 1], results["bare", 1, 1], strict=True)
    gaps = [ours.p50_ms - bare.p50_ms for ours, bare in pairs]
    many = zip(results["ours", 1, connections], results["bare", 1, connections], strict=True)
    shares = [ours.rps / bare.rps for ours, bare in many]
    hundred = [load.p50_ms for load in results["ours", 100, 1]]
    return [
        Figure("1 instance, 1 conn: p50 over the bare route (ms)", gaps, "+.3f", "target <= +0.250",
               lambda value: value <= 0.25),
        Figure(f"1 instance, {connections} conn: throughput share of the bare route", shares, ".0%",
               "target >= 50%", lambda value: value >= 0.5),
        Figure("100 instances, 1 conn: p50 (ms)", hundred, ".3f", "target < 1.000",
               lambda value: value < 1.0),
    ]


def report(results: dict[tuple[str, int, int], list[Load]], floor: dict[str, float], connections: int) -> None:
    print("\ncase                      server   p50 ms (spread)          req/s (spread)          requests  errors")
    for (name, size, conns), loads in results.items():
        case = f"{size:>3} instance(s), {conns:>2} conn"
        p50s, rps = [x.p50_ms for x in loads], [x.rps for x in loads]
        requests, errors = sum(x.requests for x in loads), sum(x.errors for x in loads)
        print(f"{case:<26}{name:<8}{statistics.median(p50s):>7.3f} ({min(p50s):.3f}-{max(p50s):.3f})"
              f"{statistics.median(rps):>10,.0f} ({min(rps):,.0f}-{max(rps):,.0f}){requests:>11,}{errors:>8}")
    print("\nfloor (in-process model call, p50 ms): " + ", ".join(f"{k} {v:.4f}" for k, v in floor.items()))
    rounds = len(results["ours", 1, 1])
    print(f"\ntargets (each figure per round, median and spread of {rounds} rounds; load average now "
          f"{os.getloadavg()[0]:.1f}):")
    for figure in figures(results, connections):
        print(figure.line())
    if any(load.errors for loads in results.values() for load in loads):
        print("  warning: some requests failed (see the errors column)")


if __name__ == "__main__":
    main()
