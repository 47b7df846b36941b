"""`churn cleanup`'s part for jobs: the schedules, pipeline jobs, custom jobs and batch
prediction jobs this project created (found by naming.managed_labels), and nothing else.

Order: schedules first (they would start new pipeline runs), then each job: a running one is
cancelled and waited for (Vertex refuses to delete a job that has not finished), then deleted.
A schedule has no labels of its own: it is ours when the pipeline job it creates carries them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pipeline.backends.vertex import naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.jobs import (
    BY_KIND,
    KINDS,
    POLL_FIRST_S,
    POLL_MAX_S,
    cancel_call,
    cancel_step,
    clients,
    delete_step,
    get_proto,
    is_ours,
    job_of,
    list_steps,
    placeholder_name,
    rest_line,
    schedule_client,
)
from pipeline.backends.vertex.plan import Plan, PlanStep
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 600.0
SCHEDULE_ID = "<SCHEDULE_ID>"
LABELLED = f"labelled {naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE}"


def dry_run_steps(config: Config) -> list[PlanStep]:
    parent = naming.location_path(config)
    schedule = f"{parent}/schedules/{SCHEDULE_ID}"
    steps = [PlanStep("List the pipeline schedules", "ScheduleServiceClient.list_schedules",
                      {"parent": parent}, rest_line(config, "GET", f"{parent}/schedules")),
             delete_step(config, schedule, "for each schedule whose pipeline job is " + LABELLED)]
    steps += list_steps(config)
    for kind in KINDS:
        name = placeholder_name(config, kind.collection)
        steps.append(cancel_step(config, name, f"for each running {kind.words} {LABELLED}"))
        steps.append(delete_step(config, name, f"for each {kind.words} {LABELLED}, once finished"))
    return steps


def cleanup_jobs(config: Config, plan: Plan) -> dict[str, list[str]]:
    """Delete our schedules, then cancel and delete our jobs; returns what went, by kind."""
    deleted: dict[str, list[str]] = {"schedules": _delete_schedules(config, plan)}
    job_client, pipeline_client, _ = clients(config)
    parent = naming.location_path(config)
    plan.steps += list_steps(config)
    listers = {"pipeline": pipeline_client.list_pipeline_jobs,
               "custom": job_client.list_custom_jobs,
               "batch_prediction": job_client.list_batch_prediction_jobs}
    deleters = {"pipeline": pipeline_client.delete_pipeline_job,
                "custom": job_client.delete_custom_job,
                "batch_prediction": job_client.delete_batch_prediction_job}
    for kind, lister in listers.items():
        with translate_errors(f"list {BY_KIND[kind].words}s", config.vertex.project):
            ours = [p for p in lister(parent=parent) if is_ours(config, p)]
        deleted[kind] = []
        for proto in ours:
            _finish(config, kind, proto, plan)
            plan.add(delete_step(config, proto.name))
            with translate_errors(f"delete {BY_KIND[kind].words} {proto.name}", config.vertex.project):
                deleters[kind](name=proto.name).result(timeout=CANCEL_WAIT_S)
            log.info("deleted %s", proto.name)
            deleted[kind].append(proto.name)
    return deleted


def _finish(config: Config, kind: str, proto: Any, plan: Plan) -> None:
    """Cancel a job that has not finished and wait until Vertex says it has."""
    if job_of(kind, proto).done:
        return
    plan.add(cancel_step(config, proto.name))
    cancel_call(config, BY_KIND[kind], proto.name)
    deadline = time.monotonic() + CANCEL_WAIT_S
    delay = POLL_FIRST_S
    while not job_of(kind, get_proto(config, proto.name)[1]).done:
        if time.monotonic() >= deadline:
            raise CloudError(f"{BY_KIND[kind].words} {proto.name} was cancelled but has not stopped "
                             f"after {CANCEL_WAIT_S:.0f}s: run `churn cleanup` again later")
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX_S)


def _delete_schedules(config: Config, plan: Plan) -> list[str]:
    client = schedule_client(config)
    parent = naming.location_path(config)
    plan.add(PlanStep("List the pipeline schedules", "ScheduleServiceClient.list_schedules",
                      {"parent": parent}, rest_line(config, "GET", f"{parent}/schedules")))
    with translate_errors("list pipeline schedules", config.vertex.project):
        schedules = list(client.list_schedules(parent=parent))
    deleted = []
    for schedule in schedules:
        labels = dict(schedule.create_pipeline_job_request.pipeline_job.labels)
        if not naming.is_managed(labels, config):
            continue
        plan.add(delete_step(config, schedule.name))
        with translate_errors(f"delete schedule {schedule.name}", config.vertex.project):
            client.delete_schedule(name=schedule.name).result(timeout=CANCEL_WAIT_S)
        deleted.append(schedule.name)
    return deleted
