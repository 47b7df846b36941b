"""The Vertex AI jobs this project starts: custom (training) jobs, batch prediction jobs and
pipeline jobs. `churn jobs list|show|cancel` find them by the project's labels
(naming.managed_labels); a job without them is never touched.

Calls go through Google's GAPIC clients over REST (JobServiceClient, PipelineServiceClient):
the request bodies are the API's own, so the plans, the gcloud lines and the fakes see the
same fields. A failed job's error is one line: the job's own error and the last error its
replicas logged (job_logs.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.backends.base import Job
from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.plan import Plan, PlanStep
from pipeline.backends.vertex.session import init_vertex
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

POLL_FIRST_S, POLL_MAX_S = 0.2, 30.0


@dataclass(frozen=True)
class JobKind:
    """One collection of jobs: its REST name, its gcloud group (None: REST only), its words."""

    kind: str
    collection: str
    gcloud_group: str | None
    words: str


KINDS = (
    JobKind("custom", "customJobs", "gcloud ai custom-jobs", "custom job"),
    JobKind("batch_prediction", "batchPredictionJobs", None, "batch prediction job"),
    JobKind("pipeline", "pipelineJobs", None, "pipeline job"),
)
BY_KIND = {k.kind: k for k in KINDS}


def api_host(config: Config) -> str:
    return config.vertex.api_endpoint or f"{config.vertex.region}-aiplatform.googleapis.com"


def clients(config: Config) -> tuple[Any, Any, Any]:
    """(JobServiceClient, PipelineServiceClient, credentials) on the configured endpoint."""
    from google.cloud import aiplatform_v1

    credentials = init_vertex(config)
    options = {"api_endpoint": api_host(config)}
    return (aiplatform_v1.JobServiceClient(transport="rest", credentials=credentials,
                                           client_options=options),
            aiplatform_v1.PipelineServiceClient(transport="rest", credentials=credentials,
                                                client_options=options),
            credentials)


def schedule_client(config: Config) -> Any:
    from google.cloud import aiplatform_v1

    return aiplatform_v1.ScheduleServiceClient(
        transport="rest", credentials=init_vertex(config),
        client_options={"api_endpoint": api_host(config)})


# ---- names -------------------------------------------------------------------------------
def kind_of(name: str) -> JobKind | None:
    return next((k for k in KINDS if f"/{k.collection}/" in name), None)


def full_names(config: Config, name: str) -> list[str]:
    """The resource names `name` can mean: itself, or an id in each job collection."""
    location = naming.location_path(config)
    if "/" not in name:
        if not name or not name.replace("-", "").isalnum():
            raise CloudError(f"job '{name[:80]}': expected a job id (e.g. 1234567890) or a resource "
                             f"name ({location}/customJobs/ID); `churn jobs list` shows them")
        return [f"{location}/{k.collection}/{name}" for k in KINDS]
    kind = kind_of(name)
    if kind is None or not name.startswith(location + "/"):
        raise CloudError(f"job '{name[:120]}': not a custom, batch prediction or pipeline job of "
                         f"{location} (expected {location}/customJobs/ID)")
    return [name]


# ---- converting ----------------------------------------------------------------------------
def _state(proto: Any) -> str:
    state = getattr(proto, "state", None)
    return getattr(state, "name", str(state or ""))


def _time(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") and value else ""


def output_of(kind: str, proto: Any) -> str:
    """Where a job writes: the run directory, the predictions, the pipeline root."""
    if kind == "custom":
        prefix = proto.job_spec.base_output_directory.output_uri_prefix
        return f"{prefix.rstrip('/')}/run/" if prefix else ""
    if kind == "batch_prediction":
        info = proto.output_info
        done = info.gcs_output_directory or info.bigquery_output_table or info.bigquery_output_dataset
        wanted = (proto.output_config.gcs_destination.output_uri_prefix
                  or proto.output_config.bigquery_destination.output_uri)
        return done or wanted
    return str(proto.runtime_config.gcs_output_directory)


def job_of(kind: str, proto: Any, error: str = "") -> Job:
    details: dict[str, Any] = {"updated_at": _time(getattr(proto, "update_time", None)),
                               "ended_at": _time(getattr(proto, "end_time", None))}
    if kind == "custom":
        pools = proto.job_spec.worker_pool_specs
        details["replicas"] = sum(int(p.replica_count) for p in pools)
        details["machine_type"] = pools[0].machine_spec.machine_type if pools else ""
        prefix = proto.job_spec.base_output_directory.output_uri_prefix
        details["model_dir"] = f"{prefix.rstrip('/')}/model/" if prefix else ""
    if kind == "batch_prediction":
        details["model"] = proto.model
        stats = proto.completion_stats
        details["predicted"] = int(stats.successful_count)
        details["failed_instances"] = int(stats.failed_count)
    if not error and proto.error.message:
        error = " ".join(proto.error.message.split())
    return Job(name=proto.name, kind=kind, display_name=proto.display_name, state=_state(proto),
               created_at=_time(proto.create_time), labels=dict(proto.labels),
               output=output_of(kind, proto), error=error, details=details)


def is_ours(config: Config, proto: Any) -> bool:
    return naming.is_managed(dict(proto.labels), config)


# ---- plans -----------------------------------------------------------------------------------
def rest_line(config: Config, method: str, path: str, body_file: str | None = None) -> str:
    return gcloud.rest_call(config, method, path, body_file)


def list_steps(config: Config) -> list[PlanStep]:
    where = {"project": config.vertex.project, "region": config.vertex.region}
    parent = naming.location_path(config)
    steps = []
    for kind in KINDS:
        line = (gcloud.command(f"{kind.gcloud_group} list", **where) if kind.gcloud_group
                else rest_line(config, "GET", f"{parent}/{kind.collection}"))
        steps.append(PlanStep(f"List the {kind.words}s (keeping those labelled "
                              f"{naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE})",
                              f"{_client_name(kind)}.list_{_snake(kind.collection)}",
                              {"parent": parent}, line))
    return steps


def get_step(config: Config, name: str, purpose: str = "Read the job") -> PlanStep:
    kind = kind_of(name) or BY_KIND["custom"]
    where = {"project": config.vertex.project, "region": config.vertex.region}
    line = (gcloud.command(f"{kind.gcloud_group} describe", name.rsplit("/", 1)[-1], **where)
            if kind.gcloud_group else rest_line(config, "GET", name))
    return PlanStep(purpose, f"{_client_name(kind)}.get_{_snake(kind.collection)[:-1]}",
                    {"name": name}, line)


def cancel_step(config: Config, name: str, when: str = "") -> PlanStep:
    kind = kind_of(name) or BY_KIND["custom"]
    where = {"project": config.vertex.project, "region": config.vertex.region}
    line = (gcloud.command(f"{kind.gcloud_group} cancel", name.rsplit("/", 1)[-1], **where)
            if kind.gcloud_group else rest_line(config, "POST", f"{name}:cancel"))
    return PlanStep(f"Cancel the {kind.words}", f"{_client_name(kind)}.cancel_"
                    f"{_snake(kind.collection)[:-1]}", {"name": name}, line, when)


def delete_step(config: Config, name: str, when: str = "") -> PlanStep:
    kind = kind_of(name)
    words = kind.words if kind else "schedule"
    client = _client_name(kind) if kind else "ScheduleServiceClient"
    method = _snake(kind.collection)[:-1] if kind else "schedule"
    return PlanStep(f"Delete the {words}", f"{client}.delete_{method}", {"name": name},
                    rest_line(config, "DELETE", name), when)


def _client_name(kind: JobKind) -> str:
    return "PipelineServiceClient" if kind.kind == "pipeline" else "JobServiceClient"


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


JOB_PLACEHOLDERS = {"customJobs": "<CUSTOM_JOB_ID>", "batchPredictionJobs": "<BATCH_JOB_ID>",
                    "pipelineJobs": "<PIPELINE_JOB_ID>"}


def placeholder_name(config: Config, collection: str = "customJobs") -> str:
    """A job's name in a dry run, its id a placeholder that plan.sh asks for."""
    return f"{naming.location_path(config)}/{collection}/{JOB_PLACEHOLDERS[collection]}"


# ---- calls ---------------------------------------------------------------------------------
def list_ours(config: Config, plan: Plan) -> list[Job]:
    """Every custom, batch prediction and pipeline job labelled as this project's, newest first."""
    job_client, pipeline_client, _ = clients(config)
    parent = naming.location_path(config)
    plan.steps += list_steps(config)
    found: list[Job] = []
    listers = {"custom": job_client.list_custom_jobs,
               "batch_prediction": job_client.list_batch_prediction_jobs,
               "pipeline": pipeline_client.list_pipeline_jobs}
    for kind, lister in listers.items():
        with translate_errors(f"list {BY_KIND[kind].words}s", config.vertex.project):
            found += [job_of(kind, p) for p in lister(parent=parent) if is_ours(config, p)]
    return sorted(found, key=lambda j: j.created_at, reverse=True)


def get_proto(config: Config, name: str) -> tuple[JobKind, Any]:
    """The job with resource name `name`, as the API returns it."""
    kind = kind_of(name)
    if kind is None:
        raise CloudError(f"'{name[:120]}' is not a custom, batch prediction or pipeline job name")
    job_client, pipeline_client, _ = clients(config)
    getters = {"custom": job_client.get_custom_job,
               "batch_prediction": job_client.get_batch_prediction_job,
               "pipeline": pipeline_client.get_pipeline_job}
    with translate_errors(f"read {kind.words} {name}", config.vertex.project):
        return kind, getters[kind.kind](name=name)


def show(config: Config, name: str, plan: Plan) -> Job:
    from pipeline.backends.vertex.job_logs import failure_line

    kind, proto = _lookup(config, name)
    plan.add(get_step(config, proto.name))
    if _state(proto) != "JOB_STATE_FAILED":
        return job_of(kind.kind, proto)
    _, _, credentials = clients(config)
    return job_of(kind.kind, proto, failure_line(config, credentials, kind, proto))


def _lookup(config: Config, name: str) -> tuple[JobKind, Any]:
    """get_proto, a bare id's NotFound in the other collections passed over."""
    last: CloudError | None = None
    for candidate in full_names(config, name):
        try:
            return get_proto(config, candidate)
        except CloudError as exc:
            if "not found" not in str(exc):
                raise
            last = exc
    if "/" in name and last is not None:
        raise last
    raise CloudError(f"no custom, batch prediction or pipeline job with id {name} in "
                     f"{naming.location_path(config)}: `churn jobs list` shows this project's jobs")


def wait(config: Config, name: str, timeout_s: float, plan: Plan) -> Job:
    """Poll the job (backing off to POLL_MAX_S) until it has finished or timeout_s passed."""
    deadline = time.monotonic() + timeout_s
    delay = POLL_FIRST_S
    while True:
        kind, proto = _lookup(config, name)
        job = job_of(kind.kind, proto)
        if job.done or time.monotonic() >= deadline:
            return show(config, proto.name, plan)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, POLL_MAX_S)


def cancel(config: Config, name: str, plan: Plan) -> Job:
    """Cancel a running job of this project; refuse a job without the project's labels."""
    kind, proto = _lookup(config, name)
    job = job_of(kind.kind, proto)
    if not is_ours(config, proto):
        raise CloudError(f"{kind.words} {proto.name} does not carry this project's labels "
                         f"({naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE}, "
                         f"{naming.MODEL_LABEL}={config.registry.model_name}): churn leaves it alone")
    if job.done:
        return job
    plan.add(cancel_step(config, proto.name))
    cancel_call(config, kind, proto.name)
    kind, proto = _lookup(config, proto.name)
    return job_of(kind.kind, proto)


def cancel_call(config: Config, kind: JobKind, name: str) -> None:
    job_client, pipeline_client, _ = clients(config)
    calls = {"custom": job_client.cancel_custom_job,
             "batch_prediction": job_client.cancel_batch_prediction_job,
             "pipeline": pipeline_client.cancel_pipeline_job}
    with translate_errors(f"cancel {kind.words} {name}", config.vertex.project):
        calls[kind.kind](name=name)


def describe_jobs(jobs: list[Job]) -> list[Mapping[str, str]]:
    """Rows for a table of jobs."""
    return [{"id": j.id, "kind": BY_KIND[j.kind].words, "name": j.display_name, "state": j.state,
             "created": j.created_at[:19], "output": j.output} for j in jobs]
