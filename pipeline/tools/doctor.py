"""`churn doctor`: checks the environment and the configuration, and says what to fix.

Every check is a small function returning a CheckResult (name, status, detail, fix). Checks
that talk to Google Cloud run only in vertex mode, only once credentials were found, under
short timeouts and in a daemon thread with a deadline: a dead network gives a FAIL line,
never a hang or a traceback.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pipeline.backends.vertex.api_errors import one_line
from pipeline.backends.vertex.session import PLACEHOLDER_BUCKET, PLACEHOLDER_PROJECT, SCOPES
from pipeline.config import CONFIG_ENV, DEFAULT_CONFIG, Config, load_config
from pipeline.errors import PipelineError

Status = Literal["OK", "WARN", "FAIL"]
T = TypeVar("T")

SUPPORTED_PYTHON = ((3, 10), (3, 12))
MIN_TENSORFLOW = (2, 16)  # the first TensorFlow that runs Keras 3
SERVING_IMAGE_TF = "2.15"  # Vertex's newest prebuilt TensorFlow serving image
MIN_FREE_BYTES = 2 * 1024**3
REMOTE_TIMEOUT_S = 5.0
LOGIN_FIX = ("gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS "
             "to a service-account key file)")
NETWORK_FIX = "check the network or proxy settings, then run `churn doctor` again"
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ \S+: ")  # "GET https://...: " before the message
_API_DISABLED = re.compile(r"SERVICE_DISABLED|has not been used in project|is disabled", re.IGNORECASE)


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
    return [check_sample_data(config.data.path), check_artifacts_writable(config.paths.artifacts),
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
    return _check_package("TensorFlow", "tensorflow", MIN_TENSORFLOW, None,
                          "pip install 'tensorflow-cpu>=2.16,<2.22' (or make setup)", note)


def check_keras() -> CheckResult:
    return _check_package("Keras 3", "keras", (3,), (4,), "pip install 'keras>=3.3,<4' (or make setup)")


def _check_package(name: str, module: str, minimum: tuple[int, ...], below: tuple[int, ...] | None,
                   fix: str, note: str = "") -> CheckResult:
    """Import `module` and check minimum <= version < below."""
    try:
        version = str(importlib.import_module(module).__version__)
    except Exception as exc:  # a broken install raises more than ImportError
        return fail(name, f"cannot import {module}: {one_line(exc)}", fix)
    wanted = ".".join(map(str, minimum)) + (f" to below {'.'.join(map(str, below))}" if below else " or newer")
    if version_tuple(version) < minimum or (below is not None and version_tuple(version) >= below):
        return fail(name, f"{module} {version} found, {wanted} needed", fix)
    return ok(name, version + note)


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


# ---- vertex settings and credentials ----------------------------------------------------

def vertex_checks(config: Config, timeout_s: float = REMOTE_TIMEOUT_S) -> list[CheckResult]:
    """Project, region and bucket settings and credentials; then, with credentials, whether
    the APIs answer and the bucket is reachable."""
    project, region, bucket = check_project(config), check_region(config), check_bucket(config)
    credentials_result, credentials = check_credentials(config, timeout_s)
    results = [project, region, bucket, credentials_result]
    if credentials is None:
        return results
    if project.status == "OK" and region.status == "OK":
        results += [run_probe(probe, credentials, timeout_s) for probe in api_probes(config)]
    if project.status == "OK" and bucket.status == "OK":
        results.append(run_probe(bucket_probe(config), credentials, timeout_s))
    return results


def check_project(config: Config) -> CheckResult:
    return _required_setting(config, "project", PLACEHOLDER_PROJECT, "YOUR_PROJECT_ID")


def check_bucket(config: Config) -> CheckResult:
    bucket = config.vertex.bucket
    if bucket and (bucket.startswith("gs://") or "/" in bucket):
        return fail("vertex.bucket", f"{bucket!r} must be a bare bucket name, without gs:// or a path",
                    f"--set vertex.bucket={bucket.removeprefix('gs://').split('/')[0]}")
    return _required_setting(config, "bucket", PLACEHOLDER_BUCKET, "YOUR_BUCKET")


def check_region(config: Config) -> CheckResult:
    return _required_setting(config, "region", None, "us-central1")


def _required_setting(config: Config, key: str, placeholder: str | None, example: str) -> CheckResult:
    name, value = f"vertex.{key}", getattr(config.vertex, key)
    fix = f"--set vertex.{key}={example}, or set it in configs/vertex.yaml"
    if not value:
        return fail(name, "not set", fix)
    if value == placeholder and not config.vertex.api_endpoint:
        return fail(name, f"still the example value {value!r}", fix)
    return ok(name, value)


def check_credentials(config: Config, timeout_s: float = REMOTE_TIMEOUT_S) -> tuple[CheckResult, Any]:
    """Application Default Credentials (anonymous ones for a custom vertex.api_endpoint),
    and the credentials themselves when found."""
    import google.auth
    from google.auth import exceptions as auth_exc

    name = "credentials"
    if config.vertex.api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return ok(name, f"anonymous: vertex.api_endpoint is {config.vertex.api_endpoint}"), AnonymousCredentials()
    try:
        credentials, adc_project = within(timeout_s * 2, lambda: google.auth.default(scopes=SCOPES))
    except auth_exc.DefaultCredentialsError:
        return fail(name, "no application-default credentials found", LOGIN_FIX), None
    except Exception as exc:
        return fail(name, _reason(exc), LOGIN_FIX), None
    where = f", default project {adc_project}" if adc_project else ""
    return ok(name, f"application-default credentials found ({type(credentials).__name__}{where})"), credentials


# ---- remote probes ----------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """One GET showing that an API is enabled and the caller may use it, with the fix for
    each way it can fail."""

    name: str
    url: str
    enable_fix: str
    access_fix: str
    not_found_fix: str
    on_success: Callable[[dict[str, Any]], CheckResult]


def api_probes(config: Config) -> list[Probe]:
    """Vertex AI (list one model in the region) and, against the real API, Cloud Monitoring."""
    project, region = config.vertex.project, config.vertex.region
    base = _with_scheme(config.vertex.api_endpoint or f"{region}-aiplatform.googleapis.com")
    enable = f"gcloud services enable {{}} --project={project}"
    vertex = Probe("Vertex AI API", f"{base}/v1/projects/{project}/locations/{region}/models?pageSize=1",
                   enable.format("aiplatform.googleapis.com"), f"grant the caller roles/aiplatform.user on {project}",
                   "check vertex.project and vertex.region", lambda _: ok("Vertex AI API", f"enabled in {region}"))
    if config.vertex.api_endpoint:
        return [vertex]  # a private or fake endpoint: Cloud Monitoring is not behind it
    monitoring = Probe("Cloud Monitoring API",
                       f"https://monitoring.googleapis.com/v3/projects/{project}/alertPolicies?pageSize=1",
                       enable.format("monitoring.googleapis.com"),
                       f"grant the caller roles/monitoring.alertPolicyEditor on {project} (for `churn alerts`)",
                       "check vertex.project", lambda _: ok("Cloud Monitoring API", "enabled"))
    return [vertex, monitoring]


def bucket_probe(config: Config) -> Probe:
    """Read the bucket's metadata, as an upload does first, and compare its location."""
    vertex = config.vertex
    bucket = f"gs://{vertex.bucket}"
    base = _with_scheme(os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com")
    return Probe("bucket access", f"{base}/storage/v1/b/{vertex.bucket}",
                 f"gcloud services enable storage.googleapis.com --project={vertex.project}",
                 f"give the caller storage.buckets.get and object read/write on {bucket} "
                 "(e.g. roles/storage.admin on the bucket)",
                 f"gcloud storage buckets create {bucket} --project={vertex.project} --location={vertex.region}",
                 lambda body: _bucket_location(bucket, str(body.get("location", "")), vertex.region))


def _bucket_location(bucket: str, location: str, region: str) -> CheckResult:
    if location and location.lower() != region.lower():
        return warn("bucket access", f"{bucket} is in {location}, Vertex AI runs in {region}",
                    f"keep the bucket in {region} (a new bucket, or --set vertex.region)")
    return ok("bucket access", f"{bucket} readable" + (f", in {location}" if location else ""))


def run_probe(probe: Probe, credentials: Any, timeout_s: float = REMOTE_TIMEOUT_S) -> CheckResult:
    """The probe's own verdict on success; a FAIL with the one-line reason on any error."""
    try:
        body = within(timeout_s * 3, lambda: _authorized_get(credentials, probe.url, timeout_s))
    except Exception as exc:
        return fail(probe.name, _reason(exc), _fix_for(exc, probe))
    return probe.on_success(body)


def _authorized_get(credentials: Any, url: str, timeout_s: float) -> dict[str, Any]:
    from google.api_core import exceptions as gexc
    from google.auth.transport.requests import AuthorizedSession

    with AuthorizedSession(credentials, refresh_timeout=timeout_s, max_refresh_attempts=1) as session:
        response = session.get(url, timeout=timeout_s)
    if response.status_code >= 400:
        raise gexc.from_http_response(response)
    return response.json() if response.content else {}


def _fix_for(exc: BaseException, probe: Probe) -> str:
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.Forbidden) and _API_DISABLED.search(str(exc)):
        return probe.enable_fix
    if isinstance(exc, gexc.Forbidden):
        return probe.access_fix
    if isinstance(exc, gexc.NotFound):
        return probe.not_found_fix
    if isinstance(exc, gexc.Unauthorized | auth_exc.RefreshError | auth_exc.DefaultCredentialsError):
        return LOGIN_FIX
    return NETWORK_FIX


def _reason(exc: BaseException) -> str:
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError) and exc.code is not None:
        return f"HTTP {int(exc.code)}: {one_line(_REQUEST_PREFIX.sub('', str(exc.message)))}"
    return f"{type(exc).__name__}: {one_line(exc)}"


def _with_scheme(host: str) -> str:
    return host.rstrip("/") if "://" in host else f"https://{host.rstrip('/')}"


def within(seconds: float, action: Callable[[], T]) -> T:
    """action() run in a daemon thread; TimeoutError when it has not finished in `seconds`.

    A daemon thread, not an executor: a stuck call must not keep the process alive at exit.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="churn-doctor-probe", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
