"""Cloud Monitoring alert policies on the endpoint: p99 prediction latency and error rate.

Policies are written as the JSON that `gcloud alpha monitoring policies create
--policy-from-file` takes, so a dry run prints files you could apply by hand. Each policy and
e-mail notification channel carries the project's labels; setup updates the ones it made
before instead of adding duplicates, and cleanup deletes them.

Clients: pass `clients=` (tests do, pointed at a fake); else vertex.monitoring_api_endpoint
(host:port, plain gRPC, for local fakes) or the real API with Application Default Credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.endpoints import find_endpoint
from pipeline.backends.vertex.plan import ENDPOINT_ID, Plan, PlanStep, dry_run_result, plan_file
from pipeline.backends.vertex.session import init_vertex, require_project, vertex_credentials
from pipeline.config import Config
from pipeline.errors import CloudError

ALERT_LABEL = "churn-alert"
METRIC_PREFIX = "aiplatform.googleapis.com/prediction/online/"
LATENCY_METRIC = METRIC_PREFIX + "prediction_latencies"
ERROR_METRIC = METRIC_PREFIX + "error_count"
RESPONSE_METRIC = METRIC_PREFIX + "response_count"
WINDOW = "300s"


@dataclass
class MonitoringClients:
    """The two Cloud Monitoring clients alerts need (AlertPolicy and NotificationChannel)."""

    policies: Any
    channels: Any


def monitoring_clients(config: Config, credentials: Any = None) -> MonitoringClients:
    from google.cloud import monitoring_v3

    target = config.vertex.monitoring_api_endpoint
    if target:
        import grpc
        from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
            AlertPolicyServiceGrpcTransport,
        )
        from google.cloud.monitoring_v3.services.notification_channel_service.transports import (
            NotificationChannelServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(target)
        return MonitoringClients(
            monitoring_v3.AlertPolicyServiceClient(
                transport=AlertPolicyServiceGrpcTransport(channel=channel)),
            monitoring_v3.NotificationChannelServiceClient(
                transport=NotificationChannelServiceGrpcTransport(channel=channel)))
    credentials = credentials or vertex_credentials(config)
    return MonitoringClients(monitoring_v3.AlertPolicyServiceClient(credentials=credentials),
                             monitoring_v3.NotificationChannelServiceClient(credentials=credentials))


def _metric_filter(endpoint_id: str, metric: str) -> str:
    return (f'resource.type = "aiplatform.googleapis.com/Endpoint" AND '
            f'resource.labels.endpoint_id = "{endpoint_id}" AND metric.type = "{metric}"')


def _policy(config: Config, kind: str, title: str, condition: dict[str, Any],
            channels: list[str], doc: str) -> dict[str, Any]:
    labels = naming.managed_labels(config, {naming.ENDPOINT_LABEL: config.vertex.endpoint_name,
                                            ALERT_LABEL: kind})
    return {
        "displayName": f"{config.vertex.endpoint_name}: {title}",
        "userLabels": labels,
        "combiner": "OR",
        "conditions": [{"displayName": title, "conditionThreshold": condition}],
        "documentation": {"content": doc, "mimeType": "text/markdown"},
        "notificationChannels": channels,
        "enabled": True,
    }


def latency_policy(config: Config, endpoint_id: str, channels: list[str]) -> dict[str, Any]:
    limit = config.vertex.latency_alert_ms
    condition = {
        "filter": _metric_filter(endpoint_id, LATENCY_METRIC),
        "aggregations": [{"alignmentPeriod": WINDOW, "perSeriesAligner": "ALIGN_PERCENTILE_99"}],
        "comparison": "COMPARISON_GT",
        "thresholdValue": limit,
        "duration": WINDOW,
        "trigger": {"count": 1},
    }
    return _policy(config, "latency", f"p99 prediction latency above {limit:g} ms", condition,
                   channels, f"p99 online prediction latency of endpoint "
                   f"`{config.vertex.endpoint_name}` stayed above {limit:g} ms for 5 minutes. "
                   "Check replica CPU and raise vertex.max_replicas or the machine type.")


def error_rate_policy(config: Config, endpoint_id: str, channels: list[str]) -> dict[str, Any]:
    rate = config.vertex.error_rate_alert
    per_endpoint = {"alignmentPeriod": WINDOW, "perSeriesAligner": "ALIGN_DELTA",
                    "crossSeriesReducer": "REDUCE_SUM",
                    "groupByFields": ["resource.label.endpoint_id"]}
    condition = {
        "filter": _metric_filter(endpoint_id, ERROR_METRIC),
        "aggregations": [per_endpoint],
        "denominatorFilter": _metric_filter(endpoint_id, RESPONSE_METRIC),
        "denominatorAggregations": [per_endpoint],
        "comparison": "COMPARISON_GT",
        "thresholdValue": rate,
        "duration": WINDOW,
        "trigger": {"count": 1},
    }
    return _policy(config, "error-rate", f"error rate above {rate:.1%}", condition, channels,
                   f"More than {rate:.1%} of prediction requests to endpoint "
                   f"`{config.vertex.endpoint_name}` failed for 5 minutes. Check the request "
                   "log (BigQuery) for rejected inputs and the endpoint's container logs.")


def _channel(config: Config, email: str) -> dict[str, Any]:
    return {"type": "email", "displayName": f"churn alerts: {email}",
            "labels": {"email_address": email}, "userLabels": naming.managed_labels(config)}


def _policy_step(config: Config, policy: Mapping[str, Any], existing: str | None,
                 when: str = "") -> PlanStep:
    kind = policy["userLabels"][ALERT_LABEL]
    policy_file = f"{config.registry.model_name}-{kind}-policy.json"
    if existing:
        body = {**policy, "name": existing}
        return PlanStep(f"Update alert policy '{policy['displayName']}'",
                        "monitoring_v3.AlertPolicyServiceClient.update_alert_policy",
                        {"alert_policy": body},
                        gcloud.alert_policy_update(config, existing, plan_file(policy_file)),
                        when, files={policy_file: _policy_json(body)})
    return PlanStep(f"Create alert policy '{policy['displayName']}'",
                    "monitoring_v3.AlertPolicyServiceClient.create_alert_policy",
                    {"name": f"projects/{config.vertex.project}", "alert_policy": dict(policy)},
                    gcloud.alert_policy_create(config, plan_file(policy_file)), when,
                    files={policy_file: _policy_json(policy)})


def _policy_json(policy: Mapping[str, Any]) -> str:
    """The policy as `--policy-from-file` reads it: the API's AlertPolicy JSON."""
    return json.dumps(policy, indent=2) + "\n"


def setup_alerts(config: Config, dry_run: bool, clients: MonitoringClients | None = None
                 ) -> dict[str, Any]:
    """Create or update the latency and error-rate alert policies of the endpoint."""
    require_project(config)
    emails = list(config.monitor.alert_emails)
    if dry_run:
        # The names Cloud Monitoring gives the channels created first, in plan.sh variables.
        channels = [f"<CHANNEL_{number}>" for number in range(1, len(emails) + 1)]
        plan = _alerts_plan(config, ENDPOINT_ID, emails, channels, {}, "unless it already exists")
        plan.notes.append("each policy is updated in place when one with the same labels exists")
        return dry_run_result(plan)
    credentials = init_vertex(config)
    endpoint = find_endpoint(config)
    if endpoint is None:
        raise CloudError(f"no endpoint named '{config.vertex.endpoint_name}' to watch: run "
                         "`churn deploy` first, then `churn alerts setup`")
    clients = clients or monitoring_clients(config, credentials)
    project = f"projects/{config.vertex.project}"
    known = {c["labels"]["email_address"]: c["name"]
             for c in _managed(config, _list_channels(clients, project))}
    existing = {p["userLabels"][ALERT_LABEL]: p["name"]
                for p in _managed(config, _list_policies(clients, project))
                if p["userLabels"].get(naming.ENDPOINT_LABEL)
                == naming.label_value(config.vertex.endpoint_name)}
    plan = Plan(f"Alert policies for endpoint '{config.vertex.endpoint_name}'")
    channels = [known.get(e) or _create_channel(config, clients, plan, e) for e in emails]
    policy_plan = _alerts_plan(config, endpoint.name, [], channels, existing)
    names = [_apply_policy(config, clients, step) for step in policy_plan.steps]
    plan.steps += policy_plan.steps
    return {"dry_run": False, "endpoint": endpoint.resource_name, "policies": names,
            "notification_channels": channels, "plan": plan.as_dict()}


def _alerts_plan(config: Config, endpoint_id: str, new_emails: list[str], channels: list[str],
                 existing: Mapping[str, str], when: str = "") -> Plan:
    plan = Plan(f"Alert policies for endpoint '{config.vertex.endpoint_name}'")
    for email in new_emails:
        plan.add(_channel_step(config, email, "unless a channel for this address exists"))
    for build in (latency_policy, error_rate_policy):
        policy = build(config, endpoint_id, channels)
        kind = policy["userLabels"][ALERT_LABEL]
        plan.add(_policy_step(config, policy, existing.get(kind), when))
    return plan


def _channel_step(config: Config, email: str, when: str = "") -> PlanStep:
    return PlanStep(f"Create e-mail notification channel for {email}",
                    "monitoring_v3.NotificationChannelServiceClient.create_notification_channel",
                    {"name": f"projects/{config.vertex.project}",
                     "notification_channel": _channel(config, email)},
                    gcloud.channel_create(config, email, naming.managed_labels(config)), when)


def _create_channel(config: Config, clients: MonitoringClients, plan: Plan, email: str) -> str:
    from google.cloud import monitoring_v3

    step = plan.add(_channel_step(config, email))
    channel = monitoring_v3.NotificationChannel.from_json(
        json.dumps(step.args["notification_channel"]))
    with translate_errors(f"create notification channel for {email}", config.vertex.project):
        return clients.channels.create_notification_channel(
            name=step.args["name"], notification_channel=channel).name


def _apply_policy(config: Config, clients: MonitoringClients, step: PlanStep) -> str:
    from google.cloud import monitoring_v3

    policy = monitoring_v3.AlertPolicy.from_json(json.dumps(step.args["alert_policy"]))
    with translate_errors(step.purpose, config.vertex.project):
        if step.call.endswith("create_alert_policy"):
            return clients.policies.create_alert_policy(name=step.args["name"],
                                                        alert_policy=policy).name
        return clients.policies.update_alert_policy(alert_policy=policy).name


def _as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(type(message).pb(message))


def _list_policies(clients: MonitoringClients, project: str) -> list[dict[str, Any]]:
    with translate_errors("list alert policies", project.split("/")[-1]):
        return [_as_dict(p) for p in clients.policies.list_alert_policies(name=project)]


def _list_channels(clients: MonitoringClients, project: str) -> list[dict[str, Any]]:
    with translate_errors("list notification channels", project.split("/")[-1]):
        return [_as_dict(c) for c in clients.channels.list_notification_channels(name=project)]


def _managed(config: Config, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if naming.is_managed(r.get("userLabels"), config)]


def delete_alerts(config: Config, dry_run: bool, clients: MonitoringClients | None = None
                  ) -> dict[str, Any]:
    """Delete the alert policies and e-mail channels this project created (by label)."""
    require_project(config)
    plan = Plan(f"Delete alert policies of {config.registry.model_name}")
    label = f"{naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE}"
    if dry_run:
        plan.add(_delete_policy_step(config, "<POLICY>", f"for each policy labelled {label}"))
        plan.add(_delete_channel_step(config, "<CHANNEL>", f"for each channel labelled {label}"))
        return dry_run_result(plan)
    clients = clients or monitoring_clients(config)
    project = f"projects/{config.vertex.project}"
    policies = [p["name"] for p in _managed(config, _list_policies(clients, project))]
    channels = [c["name"] for c in _managed(config, _list_channels(clients, project))]
    for name in policies:  # first: a channel still used by a policy cannot go
        plan.add(_delete_policy_step(config, name))
        with translate_errors(f"delete alert policy {name}", config.vertex.project):
            clients.policies.delete_alert_policy(name=name)
    for name in channels:
        plan.add(_delete_channel_step(config, name))
        with translate_errors(f"delete notification channel {name}", config.vertex.project):
            clients.channels.delete_notification_channel(name=name, force=True)
    return {"dry_run": False, "deleted_policies": policies, "deleted_channels": channels,
            "plan": plan.as_dict()}


def _delete_policy_step(config: Config, name: str, when: str = "") -> PlanStep:
    return PlanStep("Delete alert policy", "monitoring_v3.AlertPolicyServiceClient."
                    "delete_alert_policy", {"name": name},
                    gcloud.alert_policy_delete(config, name), when)


def _delete_channel_step(config: Config, name: str, when: str = "") -> PlanStep:
    return PlanStep("Delete notification channel", "monitoring_v3.NotificationChannelService"
                    "Client.delete_notification_channel", {"name": name, "force": True},
                    gcloud.channel_delete(config, name), when)
