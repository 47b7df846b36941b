"""Local endpoints: `churn deploy` runs `churn serve` in the background and records it in
artifacts/endpoints/<name>.json; `churn undeploy` stops it cleanly."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.core import atomic
from pipeline.errors import ServingError
from pipeline.registry.local_registry import resolve_model

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


def record_path(config: Config) -> Path:
    return config.paths.artifacts / "endpoints" / f"{config.serve.endpoint}.json"


def endpoint_url(config: Config) -> str:
    return f"http://{config.serve.host}:{config.serve.port}"


def read_record(config: Config) -> dict[str, Any] | None:
    """The running endpoint's record, or None when nothing is deployed (or it died)."""
    path = record_path(config)
    if not path.exists():
        return None
    record = atomic.read_json(path)
    if not _alive(record["pid"]):
        path.unlink(missing_ok=True)
        return None
    return record


def deploy_local(config: Config, ref: str, config_args: list[str]) -> dict[str, Any]:
    """Serve `ref` on the configured port in the background; replaces a running endpoint."""
    resolved = resolve_model(config, ref)
    if read_record(config):
        undeploy_local(config)
    log_path = record_path(config).with_suffix(".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pipeline", "serve", "--model", ref, "--host", config.serve.host,
               "--port", str(config.serve.port), *config_args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    _wait_healthy(config, process, log_path)
    record = {"endpoint": config.serve.endpoint, "pid": process.pid, "url": endpoint_url(config),
              "model": ref, "model_version": resolved.version_id, "log": str(log_path),
              "deployed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic.write_json(record_path(config), record)
    return record


def undeploy_local(config: Config) -> dict[str, Any] | None:
    """Stop the local endpoint (SIGTERM, then SIGKILL after a grace period)."""
    record = read_record(config)
    if record is None:
        return None
    _stop(record["pid"])
    record_path(config).unlink(missing_ok=True)
    return record


def wait_until_healthy(base_url: str, process: subprocess.Popen, timeout: float) -> str | None:
    """Poll `base_url`/health until it answers {"status": "ok"}: None then, else why not
    ("exited" when the server process ended, "timeout" when `timeout` seconds passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=1) as answer:
                if answer.status == 200 and json.loads(answer.read()).get("status") == "ok":
                    return None
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.3)
    return "timeout"


def _wait_healthy(config: Config, process: subprocess.Popen, log_path: Path) -> None:
    problem = wait_until_healthy(endpoint_url(config), process, START_TIMEOUT_S)
    if problem == "exited":
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise ServingError(f"local endpoint exited during start-up: {tail[0]} (full log: {log_path})")
    if problem == "timeout":
        _stop(process.pid)
        raise ServingError(f"local endpoint not healthy after {START_TIMEOUT_S:.0f}s (log: {log_path})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    return not cmdline.exists() or b"serve" in cmdline.read_bytes()


def _stop(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                waited, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                waited = 0
            if waited == pid or not _alive(pid):
                return
            time.sleep(0.1)
