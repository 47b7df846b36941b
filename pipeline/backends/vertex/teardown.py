"""Undeploy and clean up: leave no endpoint (or idle replica) behind that keeps costing money.

`undeploy_from_vertex` takes the configured endpoint down: its monitoring job (Vertex will not
delete an endpoint that is still monitored), every deployed model, then the endpoint.
`cleanup_vertex` also removes every endpoint, monitoring job, alert policy and e-mail channel
labelled managed-by=churn-pipeline for this model, and the schedules, pipeline jobs, custom
jobs and batch prediction jobs carrying those labels (jobs_cleanup.py). Registered models and gs:// artifacts stay:
they cost storage only and are the registry's history.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.backends.vertex import jobs_cleanup, naming
from pipeline.backends.vertex.alert_policies import MonitoringClients, delete_alerts
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.endpoints import (
    delete_endpoint_step,
    find_endpoint,
    list_deployed,
    lookup_step,
    undeploy_step,
)
from pipeline.backends.vertex.model_monitoring import (
    delete_jobs_plan_steps,
    delete_model_monitoring,
    jobs_on_endpoint,
)
from pipeline.backends.vertex.plan import (
    DEPLOYED_MODEL_ID,
    ENDPOINT_ID,
    JOB_ID,
    Plan,
    dry_run_result,
    steps_of,
)
from pipeline.backends.vertex.session import init_vertex, require_project
from pipeline.config import Config

log = logging.getLogger(__name__)

KEPT_NOTE = ("registered models and their gs:// artifacts are kept (storage only); delete a "
             "version with `gcloud ai models delete-version`")


def undeploy_from_vertex(config: Config, dry_run: bool) -> dict[str, Any]:
    """Undeploy every model from the configured endpoint and delete the endpoint."""
    require_project(config)
    plan = Plan(f"Undeploy everything from endpoint '{config.vertex.endpoint_name}' and delete it")
    if dry_run:
        _dry_run_teardown_steps(config, plan)
        return dry_run_result(plan)
    init_vertex(config)
    endpoint = find_endpoint(config)
    if endpoint is None:
        return {"dry_run": False, "endpoint": None, "undeployed": [],
                "message": f"no endpoint named '{config.vertex.endpoint_name}': nothing to do",
                "plan": plan.as_dict()}
    undeployed = _take_down(config, endpoint, plan)
    return {"dry_run": False, "endpoint": endpoint.resource_name, "undeployed": undeployed,
            "endpoint_deleted": True, "plan": plan.as_dict()}


def cleanup_vertex(config: Config, dry_run: bool, clients: MonitoringClients | None = None
                   ) -> dict[str, Any]:
    """Delete every endpoint, monitoring job and alert this project created for the model."""
    require_project(config)
    if dry_run:
        plan = Plan(f"Clean up Vertex resources of {config.registry.model_name}")
        job = f"{naming.location_path(config)}/modelDeploymentMonitoringJobs/{JOB_ID}"
        plan.steps += delete_jobs_plan_steps(config, [job], "for each job labelled "
                                             f"{naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE}")
        _dry_run_teardown_steps(config, plan, with_jobs=False)
        plan.steps += jobs_cleanup.dry_run_steps(config)
        plan.steps += steps_of(delete_alerts(config, True)["plan"])
        plan.notes.append(KEPT_NOTE)
        return dry_run_result(plan)
    init_vertex(config)
    # Order: monitoring jobs (they block endpoint deletion), then the endpoints (they cost the
    # most), then alerts, so a Cloud Monitoring problem cannot leave replicas running.
    jobs = delete_model_monitoring(config, dry_run=False)
    plan = Plan(f"Clean up Vertex resources of {config.registry.model_name}")
    plan.steps += steps_of(jobs["plan"])
    endpoints = _our_endpoints(config)
    for endpoint in endpoints:
        _take_down(config, endpoint, plan)
    deleted_jobs = jobs_cleanup.cleanup_jobs(config, plan)
    alerts = delete_alerts(config, dry_run=False, clients=clients)
    plan.steps += steps_of(alerts["plan"])
    plan.notes.append(KEPT_NOTE)
    return {"dry_run": False, "deleted_endpoints": [e.resource_name for e in endpoints],
            "deleted_monitoring_jobs": jobs["deleted"],
            "deleted_alert_policies": alerts["deleted_policies"],
            "deleted_notification_channels": alerts["deleted_channels"],
            "deleted_jobs": deleted_jobs,
            "plan": plan.as_dict()}


def _our_endpoints(config: Config) -> list[Any]:
    from google.cloud import aiplatform

    with translate_errors("list endpoints", config.vertex.project):
        every = aiplatform.Endpoint.list()
    return [e for e in every if naming.is_managed(e.labels, config)
            or e.display_name == config.vertex.endpoint_name]


def _take_down(config: Config, endpoint: Any, plan: Plan) -> list[str]:
    """Delete the endpoint's monitoring job, undeploy its models (idle first), delete it."""
    for job in jobs_on_endpoint(config, endpoint.resource_name):
        plan.steps += delete_jobs_plan_steps(config, [job.resource_name])
        with translate_errors(f"delete monitoring job {job.resource_name}", config.vertex.project):
            job.delete()
    split = dict(endpoint.traffic_split)
    deployed = sorted((d.id for d in list_deployed(endpoint)), key=lambda i: split.get(i, 0))
    for deployed_id in deployed:
        plan.add(undeploy_step(config, endpoint.resource_name, deployed_id))
        with translate_errors(f"undeploy {deployed_id} from {endpoint.resource_name}",
                              config.vertex.project):
            endpoint.undeploy(deployed_model_id=deployed_id, sync=True)
    plan.add(delete_endpoint_step(config, endpoint.resource_name))
    with translate_errors(f"delete endpoint {endpoint.resource_name}", config.vertex.project):
        endpoint.delete(sync=True)
    log.info("deleted endpoint %s", endpoint.resource_name)
    return deployed


def _dry_run_teardown_steps(config: Config, plan: Plan, with_jobs: bool = True) -> None:
    endpoint = f"{naming.location_path(config)}/endpoints/{ENDPOINT_ID}"
    found = f"if an endpoint is named '{config.vertex.endpoint_name}'"
    plan.add(lookup_step(config))
    if with_jobs:
        job = f"{naming.location_path(config)}/modelDeploymentMonitoringJobs/{JOB_ID}"
        plan.steps += delete_jobs_plan_steps(config, [job], "if the endpoint is monitored")
    plan.add(undeploy_step(config, endpoint, DEPLOYED_MODEL_ID,
                           "for each deployed model, the ones without traffic first"))
    plan.add(delete_endpoint_step(config, endpoint, found))
