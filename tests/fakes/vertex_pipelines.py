"""Vertex AI Pipelines routes of the fake Vertex server (tests/fakes/vertex_server.py):
pipelineJobs create/get/list/cancel and schedules create/get/list/delete, as the v1 REST API
answers them. A created job is PIPELINE_STATE_RUNNING until a test calls `finish_job`.

It refuses what the real service refuses and a test would otherwise miss: a job without a
pipeline spec or a gs:// output directory, a parameter the spec does not declare, a
schedule without a cron or a createPipelineJobRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from tests.fakes.rest_fake import ApiError, matches_filter

LOC = r"projects/[^/]+/locations/[^/]+"
ID = r"[^/:]+"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PipelineRoutes:
    """Mixed into FakeVertexServer: `pipeline_jobs` and `schedules` hold the state."""

    pipeline_jobs: dict[str, dict[str, Any]]
    schedules: dict[str, dict[str, Any]]
    _operation: Callable[..., dict[str, Any]]
    _ids: Any

    def pipeline_routes(self) -> list[tuple[str, str, str, Any]]:
        self.pipeline_jobs, self.schedules = {}, {}
        return [
            ("POST", rf"/v1/(?P<parent>{LOC})/pipelineJobs", "createPipelineJob", self._create_pipeline_job),
            ("GET", rf"/v1/(?P<parent>{LOC})/pipelineJobs", "listPipelineJobs", self._list_pipeline_jobs),
            ("GET", rf"/v1/(?P<name>{LOC}/pipelineJobs/{ID})", "getPipelineJob", self._get_pipeline_job),
            ("POST", rf"/v1/(?P<name>{LOC}/pipelineJobs/{ID}):cancel", "cancelPipelineJob",
             self._cancel_pipeline_job),
            ("POST", rf"/v1/(?P<parent>{LOC})/schedules", "createSchedule", self._create_schedule),
            ("GET", rf"/v1/(?P<parent>{LOC})/schedules", "listSchedules", self._list_schedules),
            ("GET", rf"/v1/(?P<name>{LOC}/schedules/{ID})", "getSchedule", self._get_schedule),
            ("DELETE", rf"/v1/(?P<name>{LOC}/schedules/{ID})", "deleteSchedule", self._delete_schedule),
        ]

    def finish_job(self, name: str, state: str = "PIPELINE_STATE_SUCCEEDED", error: str = "") -> None:
        job = self.pipeline_jobs[name]
        job.update(state=state, endTime=_now())
        if error:
            job["error"] = {"code": 9, "message": error}

    # ---- pipeline jobs ---------------------------------------------------------------
    @staticmethod
    def _check_job(job: dict[str, Any]) -> None:
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

    def _new_job(self, parent: str, body: dict[str, Any], job_id: str | None) -> dict[str, Any]:
        self._check_job(body)
        name = f"{parent}/pipelineJobs/{job_id or next(self._ids)}"
        if name in self.pipeline_jobs:
            raise ApiError(409, f"PipelineJob {name} already exists", "ALREADY_EXISTS")
        job = dict(body, name=name, state="PIPELINE_STATE_RUNNING", createTime=_now(), startTime=_now(),
                   jobDetail={"taskDetails": [{"taskName": t, "state": "PENDING"}
                                              for t in body["pipelineSpec"]["root"]["dag"]["tasks"]]})
        self.pipeline_jobs[name] = job
        return job

    def _create_pipeline_job(self, p: dict[str, str], q: dict[str, list[str]], body: dict[str, Any]
                             ) -> dict[str, Any]:
        return self._new_job(p["parent"], body, q.get("pipelineJobId", [None])[0])

    def _pipeline_job(self, name: str) -> dict[str, Any]:
        if name not in self.pipeline_jobs:
            raise ApiError(404, f"PipelineJob {name} not found")
        return self.pipeline_jobs[name]

    def _get_pipeline_job(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return self._pipeline_job(p["name"])

    def _list_pipeline_jobs(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        wanted = q.get("filter", [""])[0]
        found = [j for n, j in self.pipeline_jobs.items() if n.startswith(p["parent"] + "/")]
        return {"pipelineJobs": [j for j in found if not wanted or matches_filter(j, wanted)]}

    def _cancel_pipeline_job(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        self._pipeline_job(p["name"])["state"] = "PIPELINE_STATE_CANCELLED"
        return {}

    # ---- schedules -------------------------------------------------------------------
    def _create_schedule(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("cron"):
            raise ApiError(400, "Schedule.cron is required")
        request = body.get("createPipelineJobRequest") or {}
        if not request.get("pipelineJob"):
            raise ApiError(400, "Schedule.create_pipeline_job_request is required")
        self._check_job(request["pipelineJob"])
        name = f"{p['parent']}/schedules/{next(self._ids)}"
        schedule = dict(body, name=name, state="ACTIVE", createTime=_now(), nextRunTime=_now(),
                        startedRunCount="0")
        self.schedules[name] = schedule
        return schedule

    def _schedule(self, name: str) -> dict[str, Any]:
        if name not in self.schedules:
            raise ApiError(404, f"Schedule {name} not found")
        return self.schedules[name]

    def _get_schedule(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return self._schedule(p["name"])

    def _list_schedules(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        wanted = q.get("filter", [""])[0]
        found = [s for n, s in self.schedules.items() if n.startswith(p["parent"] + "/")]
        return {"schedules": [s for s in found if not wanted or matches_filter(s, wanted)]}

    def _delete_schedule(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        self._schedule(p["name"])
        del self.schedules[p["name"]]
        return self._operation(p["name"])
