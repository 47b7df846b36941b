"""The gcloud command equivalent to each API call, for dry runs and for people who prefer a shell."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.config import Config


def command(base: str, *positional: str, **flags: object) -> str:
    """`base ARG... --flag=value ...`, arguments and values shell-quoted; None and False flags
    are left out."""
    parts = [base, *(shlex.quote(str(p)) for p in positional)]
    for name, value in flags.items():
        flag = "--" + name.rstrip("_").replace("_", "-")
        if value is None or value is False or value == "" or value == [] or value == {}:
            continue
        if value is True:
            parts.append(flag)
        else:
            parts.append(f"{flag}={shlex.quote(_flag_text(value))}")
    return " ".join(parts)


def _flag_text(value: object) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _where(config: Config) -> dict[str, object]:
    return {"project": config.vertex.project, "region": config.vertex.region}


def storage_copy(local_dir: Path, destination: str, kms_key: str | None) -> str:
    # The unquoted glob copies the directory's contents (saved_model.pb, variables/...).
    glob = f"{shlex.quote(str(local_dir))}/*"
    return command(f"gcloud storage cp -r {glob}", destination, encryption_key=kms_key)


def storage_copy_file(local_file: Path, destination: str, kms_key: str | None) -> str:
    return command("gcloud storage cp", str(local_file), destination, encryption_key=kms_key)


def storage_copy_files(local_files: Sequence[Path], destination: str, kms_key: str | None) -> str:
    return command("gcloud storage cp", *(str(f) for f in local_files), destination,
                   encryption_key=kms_key)


def models_upload(config: Config, artifact_uri: str, aliases: Sequence[str],
                  parent_model: str | None, description: str) -> str:
    return command("gcloud ai models upload", **_where(config),
                   display_name=config.registry.model_name,
                   container_image_uri=config.vertex.serving_image,
                   artifact_uri=artifact_uri, parent_model=parent_model,
                   version_aliases=list(aliases), version_description=description)


def endpoints_create(config: Config, labels: Mapping[str, str]) -> str:
    vertex = config.vertex
    logging_on = vertex.request_logging
    return command("gcloud ai endpoints create", **_where(config),
                   display_name=vertex.endpoint_name, labels=dict(labels),
                   encryption_kms_key_name=vertex.kms_key_name,
                   request_response_logging_rate=vertex.logging_sampling_rate if logging_on else None,
                   request_response_logging_table=vertex.logging_bq_table if logging_on else None)


def endpoints_deploy_model(config: Config, endpoint_id: str, model: str, display_name: str,
                           traffic_split: Mapping[str, int]) -> str:
    vertex = config.vertex
    return command("gcloud ai endpoints deploy-model", endpoint_id, **_where(config),
                   model=model, display_name=display_name, machine_type=vertex.machine_type,
                   min_replica_count=vertex.min_replicas, max_replica_count=vertex.max_replicas,
                   traffic_split=dict(traffic_split), service_account=vertex.service_account)


def endpoints_update_traffic(config: Config, endpoint_id: str,
                             traffic_split: Mapping[str, int]) -> str:
    return command("gcloud ai endpoints update", endpoint_id, **_where(config),
                   traffic_split=dict(traffic_split))


def endpoints_undeploy_model(config: Config, endpoint_id: str, deployed_model_id: str,
                             traffic_split: Mapping[str, int] | None = None) -> str:
    return command("gcloud ai endpoints undeploy-model", endpoint_id, **_where(config),
                   deployed_model_id=deployed_model_id,
                   traffic_split=dict(traffic_split or {}))


def endpoints_delete(config: Config, endpoint_id: str) -> str:
    return command("gcloud ai endpoints delete", endpoint_id, **_where(config), quiet=True)


def monitoring_job_create(config: Config, endpoint_id: str, thresholds: Mapping[str, float],
                          training_uri: str, emails: Sequence[str]) -> str:
    vertex = config.vertex
    return command("gcloud ai model-monitoring-jobs create", **_where(config),
                   display_name=f"{config.registry.model_name}-monitoring", endpoint=endpoint_id,
                   emails=list(emails), prediction_sampling_rate=vertex.monitor_sampling_rate,
                   monitoring_frequency=vertex.monitor_interval_hours,
                   feature_thresholds=dict(thresholds), target_field=config.data.label_column,
                   data_format="csv", gcs_uris=training_uri,
                   kms_key=vertex.kms_key_name)


def monitoring_job_describe(config: Config, job_id: str) -> str:
    return command("gcloud ai model-monitoring-jobs describe", job_id, **_where(config))


def monitoring_job_delete(config: Config, job_id: str) -> str:
    return command("gcloud ai model-monitoring-jobs delete", job_id, **_where(config), quiet=True)


def alert_policy_create(config: Config, policy_file: str) -> str:
    return command("gcloud alpha monitoring policies create", project=config.vertex.project,
                   policy_from_file=policy_file)


def alert_policy_update(config: Config, policy_name: str, policy_file: str) -> str:
    return command("gcloud alpha monitoring policies update", policy_name,
                   project=config.vertex.project, policy_from_file=policy_file)


def alert_policy_delete(config: Config, policy_name: str) -> str:
    return command("gcloud alpha monitoring policies delete", policy_name,
                   project=config.vertex.project, quiet=True)


def channel_create(config: Config, email: str, labels: Mapping[str, str]) -> str:
    return command("gcloud beta monitoring channels create", project=config.vertex.project,
                   display_name=f"churn alerts: {email}", type="email",
                   channel_labels={"email_address": email}, user_labels=dict(labels))


def channel_delete(config: Config, channel_name: str) -> str:
    return command("gcloud beta monitoring channels delete", channel_name,
                   project=config.vertex.project, quiet=True)
