from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.backends.vertex import checks as vertex_doctor
from pipeline.config import CONFIG_ENV, Config, load_config
from pipeline.tools import doctor

ROOT = Path(__file__).resolve().parents[3]
LOCAL = ROOT / "configs" / "local.yaml"
VERTEX = ROOT / "configs" / "vertex.yaml"
SAMPLE = ROOT / "data" / "sample" / "customer_churn.csv"
GB = 1024**3
LOGIN = "gcloud auth application-default login"
LOCAL_CHECKS = {"Python", "TensorFlow", "Keras 3", "config", "data", "artifacts writable", "disk space",
                "serve port"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def by_name(results: list[doctor.CheckResult]) -> dict[str, doctor.CheckResult]:
    return {result.name: result for result in results}


def local_sets(tmp_path: Path) -> list[str]:
    return [f"paths.artifacts={tmp_path / 'artifacts'}", f"data.path={SAMPLE}", f"serve.port={free_port()}"]


@pytest.fixture(autouse=True)
def no_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


@pytest.fixture
def roomy_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: SimpleNamespace(total=100 * GB, free=90 * GB))


@pytest.fixture
def quick_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip importing TensorFlow (seconds) where a test is about something else."""
    monkeypatch.setattr(doctor, "check_tensorflow", lambda: doctor.ok("TensorFlow", "stub"))


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", refuse)


# ---- local checks -----------------------------------------------------------------------

def test_local_config_passes_the_local_checks(roomy_disk: None, tmp_path: Path) -> None:
    results = doctor.run_checks(LOCAL, local_sets(tmp_path))
    named = by_name(results)
    assert set(named) >= LOCAL_CHECKS
    assert all(named[name].status == "OK" for name in LOCAL_CHECKS), results
    assert named["prometheus"].status in {"OK", "WARN"}
    assert "TF 2.15" in named["TensorFlow"].detail and "make compat" in named["TensorFlow"].detail
    assert not any(name.startswith("vertex.") for name in named)
    assert doctor.exit_code(results) == 0


@pytest.mark.parametrize(("version", "status"), [((3, 9, 18), "FAIL"), ((3, 10, 0), "OK"), ((3, 12, 4), "OK"),
                                                  ((3, 13, 0), "FAIL")])
def test_python_versions(version: tuple[int, int, int], status: str) -> None:
    assert doctor.check_python(version).status == status


def test_version_tuple_reads_the_leading_numbers() -> None:
    assert doctor.version_tuple("2.21.0") == (2, 21, 0)
    assert doctor.version_tuple("2.16.0rc1") == (2, 16, 0)
    assert doctor.version_tuple("nightly") == ()


def test_missing_prometheus_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    result = doctor.check_prometheus()
    assert result.status == "WARN" and "apt-get install prometheus" in result.fix
    assert "make observe" in result.detail


def test_low_disk_space_warns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: SimpleNamespace(total=100 * GB, free=GB))
    result = doctor.check_disk_space(tmp_path / "artifacts")
    assert result.status == "WARN" and "paths.artifacts" in result.fix


def test_busy_port_warns_with_another_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = doctor.check_port("127.0.0.1", port)
    assert result.status == "WARN" and f"serve.port={port + 1}" in result.fix


def test_unresolvable_host_fails() -> None:
    result = doctor.check_port("no-such-host.invalid", 8080)
    assert result.status == "FAIL" and "serve.host" in result.fix


def test_missing_data_fails_with_make_data(tmp_path: Path) -> None:
    result = doctor.check_sample_data(tmp_path / "missing.csv")
    assert result.status == "FAIL" and "make data" in result.fix


def test_artifacts_dir_to_be_created_is_fine(tmp_path: Path) -> None:
    result = doctor.check_artifacts_writable(tmp_path / "new" / "artifacts")
    assert result.status == "OK" and "will be created" in result.detail
    assert not (tmp_path / "new").exists()


def test_artifacts_under_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    result = doctor.check_artifacts_writable(tmp_path / "plain" / "artifacts")
    assert result.status == "FAIL" and "paths.artifacts" in result.fix


def test_invalid_config_is_one_fail_not_a_traceback(quick_imports: None) -> None:
    results = doctor.run_checks(LOCAL, ["train.epochs=0"])
    config = by_name(results)["config"]
    assert config.status == "FAIL" and "train.epochs" in config.detail
    assert "data" not in by_name(results)  # checks that need a valid config are left out
    assert doctor.exit_code(results) == 1


# ---- vertex settings and credentials ----------------------------------------------------

def vertex_config(*sets: str) -> Config:
    return load_config(VERTEX, list(sets), environ={})


def test_vertex_missing_project_and_bucket_fail_with_fix(no_credentials: None) -> None:
    named = by_name(vertex_doctor.vertex_checks(vertex_config("vertex.project=null", "vertex.bucket=null")))
    assert named["vertex.project"].status == "FAIL" and "--set vertex.project=" in named["vertex.project"].fix
    assert named["vertex.bucket"].status == "FAIL" and "--set vertex.bucket=" in named["vertex.bucket"].fix
    assert named["vertex.region"].status == "OK"


def test_vertex_example_values_fail(no_credentials: None) -> None:
    named = by_name(vertex_doctor.vertex_checks(vertex_config()))
    assert "example value" in named["vertex.project"].detail
    assert "example value" in named["vertex.bucket"].detail


def test_bucket_given_as_uri_fails() -> None:
    result = vertex_doctor.check_bucket(vertex_config("vertex.project=p", "vertex.bucket=gs://churn-data/models"))
    assert result.status == "FAIL" and result.fix == "--set vertex.bucket=churn-data"


def test_missing_credentials_give_the_gcloud_hint(no_credentials: None) -> None:
    results = vertex_doctor.vertex_checks(vertex_config("vertex.project=real-project", "vertex.bucket=real-bucket"))
    credentials = by_name(results)["credentials"]
    assert credentials.status == "FAIL" and LOGIN in credentials.fix
    assert [r.name for r in results] == ["vertex.project", "vertex.region", "vertex.bucket", "credentials"]


def test_credentials_found(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setattr(google.auth, "default", lambda **kwargs: (AnonymousCredentials(), "adc-project"))
    result, credentials = vertex_doctor.check_credentials(vertex_config("vertex.project=p", "vertex.bucket=b"))
    assert result.status == "OK" and "adc-project" in result.detail and credentials is not None


# ---- remote probes against a local stand-in for the Google APIs -------------------------

class FakeGoogleApis:
    """Answers GET paths from `routes` (path -> (status, body)); unknown paths are 404."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, Any]]] = {}
        self.delay_s = 0.0
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                time.sleep(apis.delay_s)
                status, body = apis.routes.get(self.path.split("?")[0], (404, {"error": {"code": 404,
                                               "message": f"{self.path} not found", "status": "NOT_FOUND"}}))
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the doctor gave up waiting, as the slow-API test wants

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


MODELS = "/v1/projects/test-project/locations/us-central1/models"
BUCKET = "/storage/v1/b/test-bucket"


@pytest.fixture
def google_apis(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogleApis]:
    apis = FakeGoogleApis()
    thread = threading.Thread(target=apis.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", apis.url)
    apis.routes[MODELS] = (200, {})
    apis.routes[BUCKET] = (200, {"name": "test-bucket", "location": "US-CENTRAL1"})
    yield apis
    apis.server.shutdown()
    apis.server.server_close()


def fake_config(apis: FakeGoogleApis) -> Config:
    return vertex_config("vertex.project=test-project", "vertex.bucket=test-bucket",
                         f"vertex.api_endpoint={apis.url}")


def test_apis_and_bucket_reachable(google_apis: FakeGoogleApis) -> None:
    results = vertex_doctor.vertex_checks(fake_config(google_apis))
    assert [(r.name, r.status) for r in results][-2:] == [("Vertex AI API", "OK"), ("bucket access", "OK")]
    assert doctor.exit_code(results) == 0


def test_disabled_api_says_how_to_enable_it(google_apis: FakeGoogleApis) -> None:
    google_apis.routes[MODELS] = (403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "Vertex AI API has not been used in project test-project before or it is disabled.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}]}})
    result = by_name(vertex_doctor.vertex_checks(fake_config(google_apis)))["Vertex AI API"]
    assert result.status == "FAIL" and result.detail.startswith("HTTP 403: Vertex AI API has not been used")
    assert result.fix == "gcloud services enable aiplatform.googleapis.com --project=test-project"


def test_permission_denied_names_the_role(google_apis: FakeGoogleApis) -> None:
    google_apis.routes[MODELS] = (403, {"error": {"code": 403, "message": "Permission denied on resource",
                                                  "status": "PERMISSION_DENIED"}})
    result = by_name(vertex_doctor.vertex_checks(fake_config(google_apis)))["Vertex AI API"]
    assert result.status == "FAIL" and "roles/aiplatform.user" in result.fix


def test_missing_bucket_says_how_to_create_it(google_apis: FakeGoogleApis) -> None:
    del google_apis.routes[BUCKET]
    result = by_name(vertex_doctor.vertex_checks(fake_config(google_apis)))["bucket access"]
    assert result.status == "FAIL" and result.detail.startswith("HTTP 404")
    assert result.fix.startswith("gcloud storage buckets create gs://test-bucket --project=test-project")


def test_bucket_in_another_region_warns(google_apis: FakeGoogleApis) -> None:
    google_apis.routes[BUCKET] = (200, {"name": "test-bucket", "location": "EU"})
    result = by_name(vertex_doctor.vertex_checks(fake_config(google_apis)))["bucket access"]
    assert result.status == "WARN" and "EU" in result.detail


def test_slow_api_fails_fast_instead_of_hanging(google_apis: FakeGoogleApis) -> None:
    google_apis.delay_s = 3.0
    started = time.monotonic()
    results = vertex_doctor.vertex_checks(fake_config(google_apis), timeout_s=0.2)
    assert time.monotonic() - started < 2.5
    assert {r.name: r.status for r in results}["Vertex AI API"] == "FAIL"
    assert "network" in by_name(results)["Vertex AI API"].fix


def test_unreachable_api_is_one_line() -> None:
    config = vertex_config("vertex.project=test-project", "vertex.bucket=test-bucket",
                           f"vertex.api_endpoint=http://127.0.0.1:{free_port()}")
    result = by_name(vertex_doctor.vertex_checks(config, timeout_s=1.0))["Vertex AI API"]
    assert result.status == "FAIL" and "\n" not in result.detail and "ConnectionError" in result.detail


def test_within_gives_up_on_a_stuck_call() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        vertex_doctor.within(0.1, lambda: time.sleep(5))
    assert time.monotonic() - started < 1


# ---- command line -----------------------------------------------------------------------

def invoke(*args: str) -> Any:
    from pipeline.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_cli_exits_0_when_nothing_fails(quick_imports: None, roomy_disk: None, tmp_path: Path) -> None:
    sets = [arg for item in local_sets(tmp_path) for arg in ("--set", item)]
    result = invoke("doctor", "--config", str(LOCAL), *sets)
    assert result.exit_code == 0, result.output
    assert "churn doctor" in result.output and "0 FAIL" in result.output


def test_cli_exits_1_when_a_check_fails(quick_imports: None, roomy_disk: None, no_credentials: None,
                                        tmp_path: Path) -> None:
    sets = [arg for item in [*local_sets(tmp_path), "vertex.project=null"] for arg in ("--set", item)]
    result = invoke("doctor", "--config", str(VERTEX), *sets)
    assert result.exit_code == 1, result.output
    assert "vertex.project" in result.output and "FAIL" in result.output


def test_cli_help_has_an_example() -> None:
    result = invoke("doctor", "--help")
    assert result.exit_code == 0 and "Example" in result.output
