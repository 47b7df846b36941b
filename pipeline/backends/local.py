"""The local backend: the registry under artifacts/registry, an endpoint that is `churn serve`
running in the background, monitoring over the SQLite prediction log. No cloud account, no
credentials; the same answers as the vertex backend for the same artifacts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.backends.base import (
    BatchPredictionRequest,
    BatchPredictionResult,
    Deployment,
    Job,
    LocalModel,
    ModelVersion,
    Outcome,
    TrainingRequest,
    TrainingResult,
)
from pipeline.config import Config
from pipeline.core import atomic
from pipeline.errors import BackendError, ServingError

if TYPE_CHECKING:  # the log readers' frames; importing pandas costs every command ~0.5 s
    import pandas as pd

LOG_CHUNK_ROWS = 100_000
MONITORING_JOB = "monitoring_job.json"


class LocalModelRegistry:
    """The interface's Registry over pipeline.registry.local_registry.LocalRegistry."""

    def __init__(self, config: Config, dry_run: bool = False) -> None:
        from pipeline.registry.local_registry import LocalRegistry

        self.config = config
        self.dry_run = dry_run
        self.store = LocalRegistry.from_config(config)
        self.name = self.store.name

    def upload(self, run_dir: Path, aliases: Sequence[str] = (),
               labels: Mapping[str, str] | None = None) -> ModelVersion:
        refuse_dry_run(self.dry_run, "upload")
        merged = {**self.config.registry.labels, **(labels or {})}
        version = self.store.upload(Path(run_dir), list(aliases), merged)
        return self.resolve(f"{self.name}@{version}")

    def resolve(self, ref: str) -> ModelVersion:
        return self.fetch(ref).version

    def versions(self) -> list[ModelVersion]:
        return [self.resolve(f"{self.name}@{number}") for number in self.store.versions()]

    def promote(self, version_id: str, alias: str) -> str | None:
        refuse_dry_run(self.dry_run, "promote")
        previous = self.store.promote(_version_number(version_id), alias)
        return None if previous is None else str(previous)

    def rollback(self, alias: str = "champion") -> str:
        refuse_dry_run(self.dry_run, "rollback")
        return str(self.store.rollback(alias))

    def fetch(self, ref: str) -> LocalModel:
        from pipeline.registry.local_registry import resolve_model, version_metrics

        resolved = resolve_model(self.config, ref)
        info = resolved.info
        threshold, metrics = version_metrics(resolved)
        labels = info.get("labels")
        version = ModelVersion(
            name=resolved.name, version_id=str(resolved.version_id), aliases=tuple(resolved.aliases),
            labels=dict(labels) if isinstance(labels, dict) else {}, created_at=str(info.get("created_at", "")),
            run_id=str(info.get("run_id", Path(resolved.source_dir).name)),
            threshold=float(threshold), test_metrics=dict(metrics), location=str(resolved.model_dir))
        return LocalModel(version, Path(resolved.source_dir))


def refuse_dry_run(dry_run: bool, action: str) -> None:
    """--dry-run plans Vertex AI calls; a local change has no plan to show, so it is not made."""
    if dry_run:
        raise BackendError(f"{action} --dry-run: the local backend has no API calls to plan; run it "
                           "without --dry-run, or pass --config configs/vertex.yaml to plan the Vertex calls")


def _version_number(version_id: str) -> int:
    from pipeline.errors import ModelRefError

    if not (version_id.isascii() and version_id.isdigit()):
        raise ModelRefError(f"version {version_id!r}: expected a version number such as 3")
    return int(version_id)


SDK_PROJECT, SDK_LOCATION = "local", "us-central1"  # any names: the SDK checks only that the region exists


def sdk_snippet(url: str, endpoint: str) -> str:
    """Python that calls the local endpoint with Google's SDK unchanged, as it would Vertex AI."""
    from pipeline.serving.instances import EXAMPLE_INSTANCE

    return (
        "from google.auth.credentials import AnonymousCredentials\n"
        "from google.cloud import aiplatform\n\n"
        f'aiplatform.init(project="{SDK_PROJECT}", location="{SDK_LOCATION}", api_endpoint="{url}",\n'
        '                api_transport="rest", credentials=AnonymousCredentials())\n'
        f'endpoint = aiplatform.Endpoint("projects/{SDK_PROJECT}/locations/{SDK_LOCATION}/endpoints/{endpoint}")\n'
        f"instance = {json.dumps(EXAMPLE_INSTANCE)}\n"
        "print(endpoint.predict(instances=[instance]).predictions)")


class LocalEndpoint:
    """`churn serve` in the background on serve.host:serve.port, recorded under artifacts/endpoints."""

    def __init__(self, config: Config, server_args: Sequence[str] = (), dry_run: bool = False) -> None:
        self.config = config
        self.server_args = list(server_args)
        self.dry_run = dry_run

    def deploy(self, ref: str, canary_percentage: int | None = None) -> Deployment:
        from pipeline.serving.local_endpoint import deploy_local

        refuse_dry_run(self.dry_run, "deploy")
        if canary_percentage is not None:
            raise ServingError("--canary needs several models behind one endpoint, which the local "
                               "endpoint does not do (one server per endpoint): deploy without it, "
                               "or use the vertex backend")
        record = deploy_local(self.config, ref, self.server_args)
        return Deployment(endpoint=record["endpoint"], url=record["url"], model_ref=ref,
                          model_version=str(record["model_version"]), deployed_model_id=str(record["pid"]),
                          traffic_split={str(record["pid"]): 100},
                          details={**record, "sdk_snippet": sdk_snippet(record["url"], record["endpoint"])})

    def undeploy(self) -> Outcome:
        from pipeline.serving.local_endpoint import read_record, undeploy_local

        if self.dry_run:
            record = read_record(self.config)
            return Outcome(f"would stop local endpoint {record['endpoint']} (pid {record['pid']})" if record
                           else "no local endpoint is running", record or {})
        stopped = undeploy_local(self.config)
        if not stopped:
            return Outcome("no local endpoint is running")
        return Outcome(f"stopped local endpoint {stopped['endpoint']} (pid {stopped['pid']})", stopped)

    def cleanup(self) -> Outcome:
        return self.undeploy()

    def serving(self) -> bool:
        from pipeline.serving.local_endpoint import read_record

        return read_record(self.config) is not None

    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        import httpx

        from pipeline.serving.instances import ID_SIGNATURE
        from pipeline.serving.local_endpoint import endpoint_url
        from pipeline.training.schema import ID_COLUMN

        headers = {"Content-Type": "application/json"}
        token = os.environ.get(self.config.serve.auth_token_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Vertex's :predict takes only serving_default's features; instances carrying customer
        # IDs go through :rawPredict to the signature that takes and echoes them.
        with_ids = any(ID_COLUMN in instance for instance in instances)
        route = "rawPredict" if with_ids else "predict"
        body: dict[str, Any] = {"instances": instances}
        if with_ids:
            body["signature_name"] = ID_SIGNATURE
        url = f"{endpoint_url(self.config)}/v1/endpoints/{self.config.serve.endpoint}:{route}"
        try:
            answer = httpx.post(url, json=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            raise ServingError(f"{url}: no answer ({exc.__class__.__name__}); is the endpoint deployed? "
                               "(`churn deploy`)") from None
        if answer.status_code != 200:
            raise ServingError(f"{url}: HTTP {answer.status_code}: {answer.text[:200]}")
        return list(answer.json()["predictions"])


class LocalMonitoring:
    """Drift checks of logged traffic on this machine: `churn monitor --from-log` on a schedule."""

    def __init__(self, config: Config, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.job_path = config.paths.monitoring / MONITORING_JOB

    def setup(self) -> Outcome:
        refuse_dry_run(self.dry_run, "monitoring setup")
        job = self._job()
        atomic.write_json(self.job_path, job)
        return Outcome(f"recorded the monitoring schedule in {self.job_path}; run it from cron with: "
                       f"{job['cron']}", job)

    def status(self) -> Outcome:
        from pipeline.monitoring.gauges import LATEST

        latest_path = self.config.paths.monitoring / LATEST
        details: dict[str, Any] = {
            "job": atomic.read_json(self.job_path) if self.job_path.is_file() else None,
            "latest_check": atomic.read_json(latest_path) if latest_path.is_file() else None,
        }
        if details["job"] is None:
            return Outcome("no monitoring schedule recorded (`churn monitoring setup`)", details)
        return Outcome(f"monitoring every {details['job']['interval_hours']}h: {details['job']['cron']}", details)

    def delete(self) -> Outcome:
        if not self.job_path.is_file():
            return Outcome("no monitoring schedule recorded: nothing to delete")
        refuse_dry_run(self.dry_run, "monitoring delete")
        job = atomic.read_json(self.job_path)
        self.job_path.unlink()
        return Outcome(f"deleted the monitoring schedule {self.job_path} (remove its cron line too)", job)

    def setup_alerts(self) -> Outcome:
        monitor = self.config.monitor
        targets = ([f"webhook {monitor.webhook_url}"] if monitor.webhook_url else []) + \
            ([f"e-mail {', '.join(monitor.alert_emails)} via {monitor.smtp_host}"] if monitor.alert_emails else [])
        where = "; ".join(targets) or "alert records only (set monitor.webhook_url or monitor.alert_emails)"
        return Outcome(f"local alerts are sent by `churn monitor` when a feature drifts: {where}; "
                       "latency and errors are on /metrics for Prometheus (`make observe`)",
                       {"targets": targets})

    def logged_requests(self, since: dt.datetime | None,
                        until: dt.datetime | None = None) -> Iterator[pd.DataFrame]:
        from pipeline.serving.predlog import iter_log_frames

        return iter_log_frames(self.config.paths.prediction_log, since, until, LOG_CHUNK_ROWS)

    def _job(self) -> dict[str, Any]:
        hours = self.config.vertex.monitor_interval_hours
        command = ["churn", "monitor", "--from-log", "--since", f"{hours}h", "--fail-on-drift"]
        config_path = os.environ.get("CHURN_CONFIG")
        if config_path:
            command += ["--config", str(Path(config_path).resolve())]
        return {"endpoint": self.config.serve.endpoint, "model": self.config.serve.model,
                "interval_hours": hours, "thresholds": dict(self.config.monitor.thresholds),
                "default_threshold": self.config.monitor.default_threshold,
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "cron": f"0 */{hours} * * * cd {shlex.quote(str(Path.cwd()))} && {shlex.join(command)}"}


NO_JOBS = ("the local backend runs training and prediction in the foreground, so it has no jobs "
           "to follow: pass --config configs/vertex.yaml for the Vertex AI jobs")


class LocalJobs:
    """Training and batch prediction on this machine (`churn train`, streaming `churn predict`).
    Inside a Vertex training job this is what runs: the train step then also copies its
    results to AIP_MODEL_DIR and GCS (pipeline.training.cloud_output)."""

    def __init__(self, config: Config, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run

    def train(self, request: TrainingRequest) -> TrainingResult:
        refuse_dry_run(self.dry_run, "train")  # before TensorFlow loads
        from pipeline.training.cloud_output import publish_run
        from pipeline.training.launch import train_or_join

        run_dir = train_or_join(self.config, request.data, request.run_dir,
                                profile=request.profile, streaming=request.streaming)
        if run_dir is None:  # a worker of a multi-worker training
            return TrainingResult()
        publish_run(run_dir, self.config.vertex.kms_key_name)
        return TrainingResult(run_dir=run_dir)

    def batch_predict(self, request: BatchPredictionRequest) -> BatchPredictionResult:
        refuse_dry_run(self.dry_run, "predict")
        from pipeline.serving.batch_predict import predict_file

        summary = predict_file(self.config, Path(request.input), Path(request.output), request.model_ref,
                               request.chunk_rows, request.engine, request.overwrite)
        return BatchPredictionResult(output=str(summary.output), model=summary.model, rows=summary.rows)

    def list_jobs(self) -> list[Job]:
        raise BackendError(f"churn jobs list: {NO_JOBS}")

    def show(self, name: str) -> Job:
        raise BackendError(f"churn jobs show: {NO_JOBS}")

    def wait(self, name: str, timeout_s: float) -> Job:
        raise BackendError(f"churn jobs show --wait: {NO_JOBS}")

    def cancel(self, name: str) -> Outcome:
        raise BackendError(f"churn jobs cancel: {NO_JOBS}")


class LocalBackend:
    """Backend for `backend: local`."""

    kind = "local"

    def __init__(self, config: Config, server_args: Sequence[str] = (), dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.registry = LocalModelRegistry(config, dry_run)
        self.endpoint = LocalEndpoint(config, server_args, dry_run)
        self.monitoring = LocalMonitoring(config, dry_run)
        self.jobs = LocalJobs(config, dry_run)
        self.plans: list[Mapping[str, Any]] = []

    def checks(self) -> list[Any]:
        """Nothing beyond the machine checks every backend gets (files, disk, port)."""
        return []
