"""`churn doctor`'s checks of the vertex backend: project, region and bucket settings,
credentials, and (with credentials) whether the APIs answer and the bucket is reachable.
The VertexBackend hands them to the doctor (Backend.checks)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.backends.vertex.api_errors import one_line
from pipeline.backends.vertex.session import PLACEHOLDER_BUCKET, PLACEHOLDER_PROJECT, SCOPES
from pipeline.config import Config
from pipeline.tools.doctor import REMOTE_TIMEOUT_S, CheckResult, fail, ok, warn

T = TypeVar("T")
LOGIN_FIX = ("gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS "
             "to a service-account key file)")
NETWORK_FIX = "check the network or proxy settings, then run `churn doctor` again"
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ \S+: ")  # "GET https://...: " before the message
_API_DISABLED = re.compile(r"SERVICE_DISABLED|has not been used in project|is disabled", re.IGNORECASE)


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
