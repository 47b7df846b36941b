"""`churn doctor`: checks the environment and the configuration, and says what to fix.

Every check is a small function returning a CheckResult (name, status, detail, fix). Checks
that talk to Google Cloud run only in vertex mode, only once credentials were found, under
short timeouts and in a daemon thread with a deadline: a dead network gives a FAIL line,
never a hang or a traceback.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from pipeline.backends.vertex.api_errors import one_line
from pipeline.config import CONFIG_ENV, DEFAULT_CONFIG, Config, load_config
from pipeline.errors import PipelineError

Status = Literal["OK", "WARN", "FAIL"]

SUPPORTED_PYTHON = ((3, 10), (3, 12))
MIN_TENSORFLOW = (2, 16)  # the first TensorFlow that runs Keras 3
TENSORFLOW_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tensorflow-macos")
SERVING_IMAGE_TF = "2.15"  # Vertex's newest prebuilt TensorFlow serving image
MIN_FREE_BYTES = 2 * 1024**3
REMOTE_TIMEOUT_S = 5.0

@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "OK", detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "WARN", detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "FAIL", detail, fix)


# ---- running all checks --------------------------------------------------------------

def run_checks(config_path: Path | None = None, sets: Sequence[str] = (),
               timeout_s: float = REMOTE_TIMEOUT_S) -> list[CheckResult]:
    """Every check that applies: environment, configuration, local files and ports, and in
    vertex mode the project settings, credentials, APIs and bucket."""
    results = [check_python(), check_tensorflow(), check_keras(), check_prometheus()]
    config_result, config = check_config(config_path, sets)
    results.append(config_result)
    if config is None:
        return results
    from pipeline.backends import backend_for

    return results + local_checks(config) + backend_for(config).checks()


def local_checks(config: Config) -> list[CheckResult]:
    """Checks of the files, directories and port the local steps use."""
    return [check_sample_data(Path(config.data.path)), check_artifacts_writable(config.paths.artifacts),
            check_disk_space(config.paths.artifacts), check_port(config.serve.host, config.serve.port)]


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 when nothing failed, 1 otherwise (warnings do not fail)."""
    return 1 if any(result.status == "FAIL" for result in results) else 0


# ---- environment ------------------------------------------------------------------------

def check_python(version: Sequence[int] = tuple(sys.version_info[:3])) -> CheckResult:
    low, high = SUPPORTED_PYTHON
    text = ".".join(str(part) for part in version)
    if low <= tuple(version[:2]) <= high:
        return ok("Python", text)
    return fail("Python", f"{text} is not supported (3.10 to 3.12)",
                "create .venv with Python 3.10, 3.11 or 3.12: make setup PYTHON=python3.11")


def check_tensorflow() -> CheckResult:
    note = (f" (Vertex's newest prebuilt serving image runs TF {SERVING_IMAGE_TF}: "
            "`make compat` checks our SavedModel there)")
    return _check_package("TensorFlow", "tensorflow", TENSORFLOW_DISTRIBUTIONS, MIN_TENSORFLOW, None,
                          "pip install 'tensorflow-cpu>=2.16,<2.22' (or make setup)", note)


def check_keras() -> CheckResult:
    return _check_package("Keras 3", "keras", ("keras",), (3,), (4,), "pip install 'keras>=3.3,<4' (or make setup)")


def _check_package(name: str, module: str, distributions: Sequence[str], minimum: tuple[int, ...],
                   below: tuple[int, ...] | None, fix: str, note: str = "") -> CheckResult:
    """Find `module` and its installed version (from package metadata: importing TensorFlow
    would cost seconds), and check minimum <= version < below."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError) as exc:
        return fail(name, f"cannot find {module}: {one_line(exc)}", fix)
    version = next((v for v in map(_distribution_version, distributions) if v), None)
    if not found or version is None:
        return fail(name, f"cannot import {module}: not installed", fix)
    wanted = ".".join(map(str, minimum)) + (f" to below {'.'.join(map(str, below))}" if below else " or newer")
    if version_tuple(version) < minimum or (below is not None and version_tuple(version) >= below):
        return fail(name, f"{module} {version} found, {wanted} needed", fix)
    return ok(name, version + note)


def _distribution_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_prometheus() -> CheckResult:
    found = shutil.which("prometheus")
    if found is None:
        return warn("prometheus", "not on PATH: `make observe` needs it",
                    "apt-get install prometheus (or a release from prometheus.io on PATH)")
    return ok("prometheus", found)


def version_tuple(version: str) -> tuple[int, ...]:
    """(2, 21, 0) from '2.21.0' or '2.21.0rc1': the leading numbers only."""
    leading = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(n) for n in leading.group().split(".")) if leading else ()


# ---- configuration and local files ------------------------------------------------------

def check_config(config_path: Path | None, sets: Sequence[str] = ()) -> tuple[CheckResult, Config | None]:
    """Load the config as every command would; the Config too when it is valid."""
    source = config_source(config_path)
    try:
        config = load_config(config_path, sets)
    except PipelineError as exc:
        return fail("config", str(exc), "fix the key named here (see the configuration reference "
                    "in README.md)"), None
    return ok("config", f"{source}: valid, backend {config.backend}"), config


def config_source(config_path: Path | None) -> str:
    """Which file load_config reads: --config, then $CHURN_CONFIG, then configs/local.yaml."""
    if config_path is not None:
        return str(config_path)
    if os.environ.get(CONFIG_ENV):
        return f"{os.environ[CONFIG_ENV]} (from ${CONFIG_ENV})"
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else "built-in defaults"


def check_sample_data(path: Path) -> CheckResult:
    if Path(path).is_file():
        return ok("data", f"{path} ({Path(path).stat().st_size / 1e6:.1f} MB)")
    return fail("data", f"{path} (data.path) not found",
                "make data (regenerates the sample), or --set data.path=YOUR.csv")


def check_artifacts_writable(artifacts: Path) -> CheckResult:
    name = "artifacts writable"
    existing = existing_ancestor(artifacts)
    if not existing.is_dir():
        return fail(name, f"{existing} is a file, so {artifacts} cannot be a directory",
                    "--set paths.artifacts=A_DIRECTORY")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return fail(name, f"cannot write in {existing}: {exc.strerror}",
                    f"fix the permissions of {existing} or --set paths.artifacts=A_WRITABLE_DIR")
    if existing == Path(artifacts).absolute():
        return ok(name, f"{artifacts} is writable")
    return ok(name, f"{artifacts} will be created in {existing}")


def check_disk_space(artifacts: Path, minimum: int = MIN_FREE_BYTES) -> CheckResult:
    existing = existing_ancestor(artifacts)
    free = shutil.disk_usage(existing).free
    detail = f"{free / 1024**3:.1f} GB free under {existing}"
    if free < minimum:
        return warn("disk space", f"{detail} (less than {minimum / 1024**3:.0f} GB)",
                    "free some space (make clean removes artifacts) or --set paths.artifacts=/a/bigger/disk")
    return ok("disk space", detail)


def existing_ancestor(path: Path) -> Path:
    """`path` made absolute, or its nearest parent that exists."""
    current = Path(path).absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_port(host: str, port: int) -> CheckResult:
    """Whether `churn serve` could bind serve.host:serve.port (as uvicorn does, SO_REUSEADDR)."""
    name, where = "serve port", f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return fail(name, f"serve.host {host!r} does not resolve ({exc.strerror})",
                    "--set serve.host=127.0.0.1")
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return warn(name, f"{where} is in use (is `churn serve` already running?)",
                            f"stop what listens there, or --set serve.port={port + 1 if port < 65535 else 8080}")
            return fail(name, f"cannot bind {where}: {exc.strerror}",
                        "--set serve.host to an address of this machine and serve.port above 1023")
    return ok(name, f"{where} is free")
