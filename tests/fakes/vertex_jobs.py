"""The job routes of the fake Vertex AI server (tests/fakes/vertex_server.py registers them):
customJobs and batchPredictionJobs create/get/list/cancel/delete, pipelineJobs
get/list/cancel/delete and schedules list/delete.

It refuses what Vertex refuses: a custom job without worker pools, machine type or image, a
batch prediction job for a model that is not registered or without input/output config,
labels that are not label-safe, cancelling a finished job, deleting one that has not finished.
Cancelling takes a moment, as on Vertex: the job is CANCELLING until the next read. Tests move
jobs along with `finish(name, state, error)` and seed resources the project did not create
with `add_custom_job`, `add_pipeline_job`, `add_schedule`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.rest_fake import ApiError, matches_filter

if TYPE_CHECKING:
    from tests.fakes.vertex_server import FakeVertexServer

LOC = r"projects/[^/]+/locations/[^/]+"
ID = r"[^/:]+"
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
COLLECTIONS = {"customJobs": "custom", "batchPredictionJobs": "batch", "pipelineJobs": "pipeline"}


@dataclass
class JobStore:
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelling: set[str] = field(default_factory=set)


def _prefix(kind: str) -> str:
    return "PIPELINE_STATE_" if kind == "pipeline" else "JOB_STATE_"


def _done(state: str) -> bool:
    return state.rsplit("_", 1)[-1] in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")


class VertexJobsFake:
    """The job routes and their state, attached to one FakeVertexServer as `server.jobs`."""

    def __init__(self, server: FakeVertexServer) -> None:
        self.server = server
        self.store = JobStore()

    @classmethod
    def attach(cls, server: FakeVertexServer) -> list[tuple[str, str, str, Any]]:
        fake = cls(server)
        server.jobs = fake
        return fake.routes()

    def routes(self) -> list[tuple[str, str, str, Any]]:
        routes: list[tuple[str, str, str, Any]] = []
        for collection, kind in COLLECTIONS.items():
            singular = collection[0].upper() + collection[1:-1]
            if kind != "pipeline":
                routes.append(("POST", rf"/v1/(?P<parent>{LOC})/{collection}", f"create{singular}",
                               self._creator(kind)))
            routes += [
                ("GET", rf"/v1/(?P<parent>{LOC})/{collection}", f"list{singular}s", self._lister(kind)),
                ("GET", rf"/v1/(?P<name>{LOC}/{collection}/{ID})", f"get{singular}", self._getter(kind)),
                ("POST", rf"/v1/(?P<name>{LOC}/{collection}/{ID}):cancel", f"cancel{singular}",
                 self._canceller(kind)),
                ("DELETE", rf"/v1/(?P<name>{LOC}/{collection}/{ID})", f"delete{singular}",
                 self._deleter(kind)),
            ]
        routes += [("GET", rf"/v1/(?P<parent>{LOC})/schedules", "listSchedules", self._list_schedules),
                   ("DELETE", rf"/v1/(?P<name>{LOC}/schedules/{ID})", "deleteSchedule",
                    self._delete_schedule)]
        return routes

    # ---- test helpers ----------------------------------------------------------------
    def jobs_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return getattr(self.store, kind)

    def finish(self, name: str, state: str, error: str | None = None) -> None:
        """Move a job to `state` (e.g. JOB_STATE_FAILED), with an error message."""
        job = self._find(name)
        job["state"] = state
        if error:
            job["error"] = {"code": 3, "message": error}

    def add_custom_job(self, labels: dict[str, str] | None = None, state: str = "JOB_STATE_RUNNING",
                       parent: str = "projects/test-project/locations/us-central1") -> str:
        body = {"displayName": "someone-elses-job", "labels": labels or {},
                "jobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"},
                                                 "replicaCount": "1",
                                                 "containerSpec": {"imageUri": "gcr.io/x/y"}}]}}
        name = self._create("custom", parent, body)["name"]
        self.store.custom[name]["state"] = state
        return name

    def add_pipeline_job(self, labels: dict[str, str] | None = None, state: str = "PIPELINE_STATE_RUNNING",
                         parent: str = "projects/test-project/locations/us-central1") -> str:
        name = f"{parent}/pipelineJobs/churn-pipeline-{self._next_id()}"
        self.store.pipeline[name] = {"name": name, "displayName": "churn-pipeline", "labels": labels or {},
                                     "state": state, "createTime": _now(),
                                     "runtimeConfig": {"gcsOutputDirectory": "gs://b/pipeline_root/"}}
        return name

    def add_schedule(self, labels: dict[str, str] | None = None,
                     parent: str = "projects/test-project/locations/us-central1") -> str:
        name = f"{parent}/schedules/{self._next_id()}"
        self.store.schedules[name] = {
            "name": name, "displayName": "churn-retrain", "cron": "0 6 * * 1", "state": "ACTIVE",
            "createTime": _now(),
            "createPipelineJobRequest": {"parent": parent, "pipelineJob": {"displayName": "churn-pipeline",
                                                                           "labels": labels or {}}}}
        return name

    # ---- handlers ----------------------------------------------------------------------
    def _next_id(self) -> int:
        return next(self.server._ids)

    def _find(self, name: str) -> dict[str, Any]:
        for kind in COLLECTIONS.values():
            if name in self.jobs_of(kind):
                return self.jobs_of(kind)[name]
        raise ApiError(404, f"Job {name} not found")

    def _creator(self, kind: str) -> Any:
        def create(p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
            return self._create(kind, p["parent"], body)
        return create

    def _create(self, kind: str, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("displayName"):
            raise ApiError(400, "display_name is required")
        for key, value in (body.get("labels") or {}).items():
            if not _LABEL.match(key) or not _VALUE.match(value):
                raise ApiError(400, f"invalid label {key}={value}")
        (self._check_custom if kind == "custom" else self._check_batch)(body)
        collection = "customJobs" if kind == "custom" else "batchPredictionJobs"
        name = f"{parent}/{collection}/{self._next_id()}"
        job = dict(body, name=name, state="JOB_STATE_PENDING", createTime=_now(), updateTime=_now())
        self.jobs_of(kind)[name] = job
        return job

    @staticmethod
    def _check_custom(body: dict[str, Any]) -> None:
        pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or []
        if not pools:
            raise ApiError(400, "job_spec.worker_pool_specs must not be empty")
        for number, pool in enumerate(pools):
            if not (pool.get("machineSpec") or {}).get("machineType"):
                raise ApiError(400, f"worker_pool_specs[{number}].machine_spec.machine_type is required")
            if not (pool.get("containerSpec") or {}).get("imageUri"):
                raise ApiError(400, f"worker_pool_specs[{number}].container_spec.image_uri is required")
            if int(pool.get("replicaCount") or 0) < 1:
                raise ApiError(400, f"worker_pool_specs[{number}].replica_count must be >= 1")
        chief = int(pools[0].get("replicaCount") or 0)
        if chief != 1:
            raise ApiError(400, f"the first worker pool (the chief) must have 1 replica, got {chief}")

    def _check_batch(self, body: dict[str, Any]) -> None:
        self.server._resolve_version(body.get("model", ""))  # 404 for a model that is not registered
        source = body.get("inputConfig") or {}
        if not source.get("instancesFormat") or not (source.get("gcsSource") or source.get("bigquerySource")):
            raise ApiError(400, "input_config needs instances_format and a gcs_source or bigquery_source")
        out = body.get("outputConfig") or {}
        if not out.get("predictionsFormat") or not (out.get("gcsDestination") or out.get("bigqueryDestination")):
            raise ApiError(400, "output_config needs predictions_format and a destination")
        instance = body.get("instanceConfig") or {}
        if instance.get("includedFields") and instance.get("excludedFields"):
            raise ApiError(400, "included_fields and excluded_fields cannot both be set")
        if not (body.get("dedicatedResources") or {}).get("machineSpec", {}).get("machineType"):
            raise ApiError(400, "dedicated_resources.machine_spec.machine_type is required")

    def _lister(self, kind: str) -> Any:
        key = {"custom": "customJobs", "batch": "batchPredictionJobs", "pipeline": "pipelineJobs"}[kind]

        def list_jobs(p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
            wanted = q.get("filter", [""])[0]
            found = [self._read(n, kind) for n in list(self.jobs_of(kind)) if n.startswith(p["parent"] + "/")]
            return {key: [j for j in found if not wanted or matches_filter(j, wanted)]}
        return list_jobs

    def _read(self, name: str, kind: str) -> dict[str, Any]:
        job = self.jobs_of(kind)[name]
        if name in self.store.cancelling:  # the cancel has gone through by the next read
            self.store.cancelling.discard(name)
            job["state"] = _prefix(kind) + "CANCELLED"
        return job

    def _getter(self, kind: str) -> Any:
        def get(p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
            if p["name"] not in self.jobs_of(kind):
                raise ApiError(404, f"Job {p['name']} not found")
            return self._read(p["name"], kind)
        return get

    def _canceller(self, kind: str) -> Any:
        def cancel(p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
            job = self._getter(kind)(p, q, b)
            if _done(job["state"]):
                raise ApiError(400, f"Job {p['name']} is {job['state']}: cannot cancel it",
                               "FAILED_PRECONDITION")
            job["state"] = _prefix(kind) + "CANCELLING"
            self.store.cancelling.add(p["name"])
            return {}
        return cancel

    def _deleter(self, kind: str) -> Any:
        def delete(p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
            job = self._getter(kind)(p, q, b)
            if not _done(job["state"]):
                raise ApiError(400, f"Job {p['name']} is {job['state']}: cancel it and wait for it to "
                               "finish before deleting it", "FAILED_PRECONDITION")
            del self.jobs_of(kind)[p["name"]]
            return self.server._operation(p["name"])
        return delete

    def _list_schedules(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return {"schedules": [s for n, s in self.store.schedules.items() if n.startswith(p["parent"] + "/")]}

    def _delete_schedule(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        if p["name"] not in self.store.schedules:
            raise ApiError(404, f"Schedule {p['name']} not found")
        del self.store.schedules[p["name"]]
        return self.server._operation(p["name"])


def _now() -> str:
    from tests.fakes.vertex_server import _now as now

    return now()
