"""Creating pipeline jobs and schedules on the fake Vertex server, as the v1 REST API answers
`churn pipeline run` and `churn pipeline schedule`: pipelineJobs create, schedules create and
get. They live in the jobs fake's store (tests/fakes/vertex_jobs.py), which lists, cancels
and deletes them (`churn cleanup`); `server.jobs.finish(name, state, error)` moves a job on.

It refuses what the real service refuses and a test would otherwise miss: a job without a
pipeline spec or a gs:// output directory, a parameter the spec does not declare, labels that
are not label-safe, a schedule without a cron or a createPipelineJobRequest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.rest_fake import ApiError
from tests.fakes.vertex_jobs import LOC, VertexJobsFake

if TYPE_CHECKING:
    from tests.fakes.vertex_server import FakeVertexServer

ID = r"[^/:]+"


class PipelineCreateRoutes:
    def __init__(self, server: FakeVertexServer) -> None:
        self.server = server

    @property
    def jobs(self) -> VertexJobsFake:
        return self.server.jobs

    def routes(self) -> list[tuple[str, str, str, Any]]:
        return [
            ("POST", rf"/v1/(?P<parent>{LOC})/pipelineJobs", "createPipelineJob", self._create_pipeline_job),
            ("POST", rf"/v1/(?P<parent>{LOC})/schedules", "createSchedule", self._create_schedule),
            ("GET", rf"/v1/(?P<name>{LOC}/schedules/{ID})", "getSchedule", self._get_schedule),
        ]

    def _check_job(self, job: dict[str, Any]) -> None:
        spec = job.get("pipelineSpec") or {}
        if not spec.get("root"):
            raise ApiError(400, "PipelineJob.pipeline_spec is required")
        runtime = job.get("runtimeConfig") or {}
        if not str(runtime.get("gcsOutputDirectory", "")).startswith("gs://"):
            raise ApiError(400, "runtime_config.gcs_output_directory must be a gs:// URI")
        declared = set(spec["root"].get("inputDefinitions", {}).get("parameters", {}))
        unknown = set(runtime.get("parameterValues") or {}) - declared
        if unknown:
            raise ApiError(400, f"parameters {sorted(unknown)} are not declared by the pipeline")
        for key, value in (job.get("labels") or {}).items():
            if key != key.lower() or len(key) > 63 or len(value) > 63 or value != value.lower():
                raise ApiError(400, f"invalid label {key}={value}")

    def _create_pipeline_job(self, p: dict[str, str], q: dict[str, list[str]], body: dict[str, Any]
                             ) -> dict[str, Any]:
        self._check_job(body)
        name = f"{p['parent']}/pipelineJobs/{q.get('pipelineJobId', [None])[0] or self.jobs._next_id()}"
        if name in self.jobs.store.pipeline:
            raise ApiError(409, f"PipelineJob {name} already exists", "ALREADY_EXISTS")
        from tests.fakes.vertex_jobs import _now

        tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
        job = dict(body, name=name, state="PIPELINE_STATE_RUNNING", createTime=_now(), startTime=_now(),
                   jobDetail={"taskDetails": [{"taskName": t, "state": "PENDING"} for t in tasks]})
        self.jobs.store.pipeline[name] = job
        return job

    def _create_schedule(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("cron"):
            raise ApiError(400, "Schedule.cron is required")
        request = body.get("createPipelineJobRequest") or {}
        if not request.get("pipelineJob"):
            raise ApiError(400, "Schedule.create_pipeline_job_request is required")
        self._check_job(request["pipelineJob"])
        from tests.fakes.vertex_jobs import _now

        name = f"{p['parent']}/schedules/{self.jobs._next_id()}"
        schedule = dict(body, name=name, state="ACTIVE", createTime=_now(), nextRunTime=_now(),
                        startedRunCount="0")
        self.jobs.store.schedules[name] = schedule
        return schedule

    def _get_schedule(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        if p["name"] not in self.jobs.store.schedules:
            raise ApiError(404, f"Schedule {p['name']} not found")
        return self.jobs.store.schedules[p["name"]]
