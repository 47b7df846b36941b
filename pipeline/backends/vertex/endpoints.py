"""Vertex AI endpoints: get or create the project's endpoint and deploy a model version to it.

Traffic: a plain deploy sends 100% to the new version and then undeploys the versions left
with no traffic (idle replicas still cost money; roll back by deploying the old version
again). A canary deploy sends its percentage to the new version and spreads the rest over the
versions already serving, in proportion to their current share. Deploying a version that is
already on the endpoint only moves traffic. A deploy that fails deletes the endpoint if, and
only if, this call created it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import one_line, translate_errors
from pipeline.backends.vertex.model_registry import resolve_model_ref
from pipeline.backends.vertex.plan import (
    DEPLOYED_MODEL_ID,
    ENDPOINT_ID,
    MODEL_ID,
    Plan,
    PlanStep,
    dry_run_result,
)
from pipeline.backends.vertex.session import init_vertex, require_project
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

NEW_MODEL_KEY = "0"  # how a traffic split names the model being deployed


def deploy_to_vertex(config: Config, model_ref: str, canary_percentage: int | None,
                     dry_run: bool) -> dict[str, Any]:
    """Deploy `model_ref` (churn@champion, churn@3, run dir) to the configured endpoint."""
    require_project(config)
    canary = _canary(canary_percentage)
    if dry_run:
        return dry_run_result(_dry_run_plan(config, model_ref, canary))
    init_vertex(config)
    model = resolve_model_ref(config, model_ref)
    endpoint = find_endpoint(config)
    current = list_deployed(endpoint) if endpoint else []
    already = [d for d in current if _is_version(d, model)]
    if already:
        return _shift_traffic(config, endpoint, already[0].id, current, canary)
    if canary is not None and not current:
        raise CloudError(f"canary deploy of {model_ref}: endpoint {config.vertex.endpoint_name} "
                         "has no model serving yet to keep the other "
                         f"{100 - canary}%: deploy without a canary percentage first")
    return _deploy_new(config, model, model_ref, endpoint, current, canary)


def _canary(percentage: int | None) -> int | None:
    if percentage is None or percentage in (0, 100):
        return None
    if not 0 < percentage < 100:
        raise CloudError(f"canary percentage {percentage} must be between 1 and 99 "
                         "(0 or 100 means a full rollout)")
    return percentage


def find_endpoint(config: Config) -> Any | None:
    """The endpoint whose display name is vertex.endpoint_name, or None."""
    from google.cloud import aiplatform

    name = config.vertex.endpoint_name
    with translate_errors(f"look up endpoint {name}", config.vertex.project):
        found = aiplatform.Endpoint.list(filter=f'display_name="{name}"')
    if len(found) > 1:
        found = [e for e in found if naming.is_managed(e.labels, config)] or found
        log.warning("several endpoints are named %s; using %s", name, found[0].resource_name)
    return found[0] if found else None


def list_deployed(endpoint: Any) -> list[Any]:
    with translate_errors(f"read endpoint {endpoint.resource_name}"):
        return list(endpoint.list_models())


def _is_version(deployed: Any, model: Any) -> bool:
    base, _, version = deployed.model.partition("@")
    return (base == model.resource_name
            and str(deployed.model_version_id or version) == str(model.version_id))


def traffic_split_for(current: Mapping[str, int], canary: int | None) -> dict[str, int]:
    """Split for a new deployment: 100% to it, or `canary`% to it and the rest kept on the
    current models in proportion to their share (largest remainder, so it sums to 100)."""
    if canary is None or not current or sum(current.values()) == 0:
        return {NEW_MODEL_KEY: 100}
    rest = 100 - canary
    total = sum(current.values())
    exact = {k: v * rest / total for k, v in current.items()}
    split = {k: int(v) for k, v in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - split[k], reverse=True)[
            : rest - sum(split.values())]:
        split[key] += 1
    return {NEW_MODEL_KEY: canary, **split}


def endpoint_create_args(config: Config) -> dict[str, Any]:
    vertex = config.vertex
    args: dict[str, Any] = {
        "display_name": vertex.endpoint_name,
        "labels": naming.managed_labels(config),
        "encryption_spec_key_name": vertex.kms_key_name,
        "enable_request_response_logging": vertex.request_logging,
    }
    if vertex.request_logging:
        # Without a table Vertex creates a BigQuery dataset logging_<endpoint>_<id> itself.
        args["request_response_logging_sampling_rate"] = vertex.logging_sampling_rate
        args["request_response_logging_bq_destination_table"] = vertex.logging_bq_table
    return args


def _deploy_args(config: Config, model_version: str, traffic: Mapping[str, int]
                 ) -> dict[str, Any]:
    vertex = config.vertex
    return {
        "deployed_model_display_name": f"{config.registry.model_name}-v{model_version}",
        "traffic_split": dict(traffic),
        "machine_type": vertex.machine_type,
        "min_replica_count": vertex.min_replicas,
        "max_replica_count": max(vertex.min_replicas, vertex.max_replicas),
        "service_account": vertex.service_account,
    }


def lookup_step(config: Config) -> PlanStep:
    name = config.vertex.endpoint_name
    return PlanStep(f"Find endpoint '{name}'", "aiplatform.Endpoint.list",
                    {"filter": f'display_name="{name}"'},
                    gcloud.command("gcloud ai endpoints list", project=config.vertex.project,
                                   region=config.vertex.region, filter=f"display_name={name}"))


def _create_step(config: Config, when: str = "") -> PlanStep:
    args = endpoint_create_args(config)
    return PlanStep(f"Create endpoint '{config.vertex.endpoint_name}'",
                    "aiplatform.Endpoint.create", args, gcloud.endpoints_create(config, args),
                    when)


def _deploy_step(config: Config, endpoint_name: str, model_name: str, version: str,
                 traffic: Mapping[str, int], when: str = "") -> PlanStep:
    """`model_name` is the versioned resource name (.../models/ID@VERSION_OR_ALIAS)."""
    args = {"self": model_name, "endpoint": endpoint_name,
            **_deploy_args(config, version, traffic)}
    model = model_name.rsplit("/", 1)[-1]
    return PlanStep(f"Deploy {config.registry.model_name} version {version}",
                    "aiplatform.Model.deploy", args, gcloud.endpoints_deploy_model(
                        config, endpoint_name.rsplit("/", 1)[-1], model, args), when)


def undeploy_step(config: Config, endpoint_name: str, deployed_id: str, when: str = ""
                  ) -> PlanStep:
    return PlanStep(f"Undeploy deployed model {deployed_id}", "aiplatform.Endpoint.undeploy",
                    {"self": endpoint_name, "deployed_model_id": deployed_id},
                    gcloud.endpoints_undeploy_model(config, endpoint_name.rsplit("/", 1)[-1],
                                                    deployed_id), when)


def delete_endpoint_step(config: Config, endpoint_name: str, when: str = "") -> PlanStep:
    return PlanStep("Delete the endpoint", "aiplatform.Endpoint.delete", {"self": endpoint_name},
                    gcloud.endpoints_delete(config, endpoint_name.rsplit("/", 1)[-1]), when)


def _dry_run_plan(config: Config, model_ref: str, canary: int | None) -> Plan:
    ref = naming.parse_model_ref(model_ref, config)
    location = naming.location_path(config)
    endpoint_name = f"{location}/endpoints/{ENDPOINT_ID}"
    model_name = f"{location}/models/{MODEL_ID}"
    share = f"{canary}%" if canary is not None else "100%"
    # A run directory is looked up by its run_id label; the version is known only then.
    selector = "<VERSION>" if ref.kind == "run" else ref.selector
    plan = Plan(f"Deploy {ref} to endpoint '{config.vertex.endpoint_name}' ({share} of traffic)")
    plan.add(PlanStep(f"Resolve {ref}", "aiplatform.Model",
                      {"model_name": f"{model_name}@{selector}"},
                      gcloud.command("gcloud ai models describe", f"{MODEL_ID}@{selector}",
                                     project=config.vertex.project, region=config.vertex.region)))
    plan.add(lookup_step(config))
    plan.add(_create_step(config, f"only if no endpoint is named '{config.vertex.endpoint_name}'"))
    traffic = traffic_split_for({DEPLOYED_MODEL_ID: 100}, canary)
    when = ("the other share is spread over the models already serving, in proportion"
            if canary is not None else "")
    version = ref.selector if ref.kind == "version" else "<VERSION>"
    plan.add(_deploy_step(config, endpoint_name, f"{model_name}@{selector}", version,
                          traffic, when))
    if canary is None:
        plan.add(undeploy_step(config, endpoint_name, DEPLOYED_MODEL_ID,
                               "for each model deployed before, now at 0% traffic"))
    plan.notes.append("if the deploy fails, an endpoint created by this command is deleted again")
    plan.notes.append("if this version is already deployed, only the traffic split changes")
    return plan


def _deploy_new(config: Config, model: Any, model_ref: str, existing: Any | None,
                current: list[Any], canary: int | None) -> dict[str, Any]:
    plan = Plan(f"Deploy {model_ref} to endpoint '{config.vertex.endpoint_name}'")
    created = existing is None
    endpoint = _create_endpoint(config, plan) if existing is None else existing
    if not created:
        plan.notes.append(f"reused endpoint {endpoint.resource_name}: its request logging and "
                          "encryption settings are the ones it was created with")
    traffic = traffic_split_for(dict(endpoint.traffic_split) if current else {}, canary)
    deploy = plan.add(_deploy_step(config, endpoint.resource_name,
                                   model.versioned_resource_name, str(model.version_id), traffic))
    _deploy_or_roll_back(config, model, endpoint, created, deploy.args)
    after = list_deployed(endpoint)
    new_id = next(d.id for d in after if _is_version(d, model))
    retired = _retire_idle(config, endpoint, plan, keep=new_id) if canary is None else []
    return _deploy_result(endpoint, model.versioned_resource_name, new_id, created, retired, plan)


def _create_endpoint(config: Config, plan: Plan) -> Any:
    from google.cloud import aiplatform

    step = plan.add(_create_step(config))
    with translate_errors(f"create endpoint {config.vertex.endpoint_name}", config.vertex.project):
        return aiplatform.Endpoint.create(**step.args, sync=True)


def _deploy_or_roll_back(config: Config, model: Any, endpoint: Any, created: bool,
                         args: Mapping[str, Any]) -> None:
    call_args = {k: v for k, v in args.items() if k != "self" and k != "endpoint"
                 and v is not None}
    action = f"deploy {model.versioned_resource_name} to {endpoint.resource_name}"
    try:
        with translate_errors(action, config.vertex.project):
            model.deploy(endpoint=endpoint, **call_args, sync=True)
    except (Exception, KeyboardInterrupt) as exc:
        if not created:
            raise
        outcome = _delete_created_endpoint(config, endpoint)
        if isinstance(exc, CloudError):
            raise CloudError(f"{exc}; {outcome}") from None
        raise


def _delete_created_endpoint(config: Config, endpoint: Any) -> str:
    name = endpoint.resource_name
    try:
        with translate_errors(f"delete endpoint {name}", config.vertex.project):
            endpoint.delete(force=True, sync=True)
    except CloudError as exc:
        log.error("could not delete endpoint %s created by this deploy: %s", name, exc)
        return (f"could not delete endpoint {name} that this deploy created ({one_line(exc, 80)})"
                f": run `{gcloud.endpoints_delete(config, name.rsplit('/', 1)[-1])}`")
    log.warning("deleted endpoint %s that this failed deploy had created", name)
    return f"deleted endpoint {name} that this deploy had created"


def _shift_traffic(config: Config, endpoint: Any, target: str, current: list[Any],
                   canary: int | None) -> dict[str, Any]:
    """The version is already deployed: only move traffic (and retire idle versions)."""
    others = {k: v for k, v in endpoint.traffic_split.items() if k != target}
    if canary is None:
        traffic = {target: 100}
    else:
        split = traffic_split_for(others or {k.id: 1 for k in current if k.id != target}, canary)
        traffic = {(target if k == NEW_MODEL_KEY else k): v for k, v in split.items()}
    plan = Plan(f"Move traffic on endpoint '{config.vertex.endpoint_name}' to deployed model "
                f"{target}")
    step = plan.add(PlanStep("Update the traffic split", "aiplatform.Endpoint.update",
                             {"self": endpoint.resource_name, "traffic_split": traffic},
                             gcloud.endpoints_update_traffic(
                                 config, endpoint.name, traffic)))
    with translate_errors(f"update traffic on {endpoint.resource_name}", config.vertex.project):
        endpoint.update(traffic_split=step.args["traffic_split"])
    retired = _retire_idle(config, endpoint, plan, keep=target) if canary is None else []
    model_name = next(d.model for d in current if d.id == target)
    return _deploy_result(endpoint, model_name, target, False, retired, plan)


def _retire_idle(config: Config, endpoint: Any, plan: Plan, keep: str) -> list[str]:
    """Undeploy every deployed model except `keep` that gets no traffic."""
    split = dict(endpoint.traffic_split)
    idle = [d.id for d in list_deployed(endpoint) if d.id != keep and not split.get(d.id)]
    for deployed_id in idle:
        step = plan.add(undeploy_step(config, endpoint.resource_name, deployed_id,
                                      "no traffic left"))
        with translate_errors(f"undeploy {deployed_id} from {endpoint.resource_name}",
                              config.vertex.project):
            endpoint.undeploy(deployed_model_id=step.args["deployed_model_id"], sync=True)
    return idle


def _deploy_result(endpoint: Any, model_name: str, deployed_id: str, created: bool,
                   retired: list[str], plan: Plan) -> dict[str, Any]:
    return {
        "dry_run": False,
        "endpoint": endpoint.resource_name,
        "endpoint_created": created,
        "model": model_name,
        "deployed_model_id": deployed_id,
        "traffic_split": dict(endpoint.traffic_split),
        "retired_deployed_models": retired,
        "plan": plan.as_dict(),
    }
