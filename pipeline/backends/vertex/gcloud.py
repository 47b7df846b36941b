"""The gcloud command equivalent to each API call, for dry runs and for people who prefer a shell."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def _local(path: Path | str) -> str:
    """A local path as the command names it: absolute, so plan.sh runs from any folder
    (paths of the plan folder itself stay <PLAN_DIR>/NAME until it is written)."""
    text = str(path)
    return text if text.startswith("<") else os.path.abspath(text)


def storage_copy(local_dir: Path, destination: str, kms_key: str | None) -> str:
    # The unquoted glob copies the directory's contents (saved_model.pb, variables/...).
    glob = f"{shlex.quote(_local(local_dir))}/*"
    return command(f"gcloud storage cp -r {glob}", destination, encryption_key=kms_key)


def storage_copy_file(local_file: Path | str, destination: str, kms_key: str | None) -> str:
    return command("gcloud storage cp", _local(local_file), destination, encryption_key=kms_key)


def storage_copy_files(local_files: Sequence[Path], destination: str, kms_key: str | None) -> str:
    return command("gcloud storage cp", *(_local(f) for f in local_files), destination,
                   encryption_key=kms_key)


def models_upload(config: Config, args: Mapping[str, Any]) -> str:
    """From aiplatform.Model.upload's arguments; gcloud has no flag for
    encryption_spec_key_name (the caller says so in the plan's notes)."""
    return command("gcloud ai models upload", **_where(config),
                   display_name=args["display_name"],
                   container_image_uri=args["serving_container_image_uri"],
                   artifact_uri=args["artifact_uri"], parent_model=args["parent_model"],
                   version_aliases=list(args["version_aliases"]),
                   version_description=args["version_description"],
                   labels=dict(args["labels"]))


def endpoints_create(config: Config, args: Mapping[str, Any]) -> str:
    """From aiplatform.Endpoint.create's arguments (gcloud turns logging on by its rate)."""
    logging_on = args["enable_request_response_logging"]
    return command("gcloud ai endpoints create", **_where(config),
                   display_name=args["display_name"], labels=dict(args["labels"]),
                   encryption_kms_key_name=args["encryption_spec_key_name"],
                   request_response_logging_rate=args.get(
                       "request_response_logging_sampling_rate") if logging_on else None,
                   request_response_logging_table=args.get(
                       "request_response_logging_bq_destination_table") if logging_on else None)


def endpoints_deploy_model(config: Config, endpoint_id: str, model: str,
                           args: Mapping[str, Any]) -> str:
    """From aiplatform.Model.deploy's arguments."""
    return command("gcloud ai endpoints deploy-model", endpoint_id, **_where(config),
                   model=model, display_name=args["deployed_model_display_name"],
                   machine_type=args["machine_type"],
                   min_replica_count=args["min_replica_count"],
                   max_replica_count=args["max_replica_count"],
                   traffic_split=dict(args["traffic_split"]),
                   service_account=args["service_account"])


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


def monitoring_job_create(config: Config, endpoint_id: str, args: Mapping[str, Any],
                          objectives_file: str) -> str:
    """From ModelDeploymentMonitoringJob.create's arguments; the objective configs (skew and
    drift thresholds per deployed model) are in `objectives_file`. gcloud has no flag for
    stats_anomalies_base_directory (the caller says so in the plan's notes)."""
    return command("gcloud ai model-monitoring-jobs create", **_where(config),
                   display_name=args["display_name"], endpoint=endpoint_id,
                   emails=list(args["alert_config"]["user_emails"]),
                   anomaly_cloud_logging=bool(args["alert_config"]["enable_logging"]),
                   prediction_sampling_rate=args["logging_sampling_strategy"]["sample_rate"],
                   monitoring_frequency=args["schedule_config"]["monitor_interval"],
                   predict_instance_schema=args["predict_instance_schema_uri"],
                   analysis_instance_schema=args["analysis_instance_schema_uri"],
                   monitoring_config_from_file=objectives_file,
                   labels=dict(args["labels"]), kms_key=args["encryption_spec_key_name"])


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


def rest_call(config: Config, method: str, path: str, body_file: str | None = None) -> str:
    """A curl line for a call gcloud has no command for (batch prediction and pipeline jobs,
    schedules): the same REST request, authorised by gcloud's access token."""
    return curl_line(method, f"https://{config.vertex.region}-aiplatform.googleapis.com/v1/{path}", body_file)


def curl_line(method: str, url: str, body_file: str | None = None) -> str:
    """The REST call to `url` as a runnable curl line (failing on an HTTP error), authorised
    by the gcloud login."""
    parts = [f"curl -sS --fail-with-body -X {method}",
             '-H "Authorization: Bearer $(gcloud auth print-access-token)"']
    if body_file is not None:
        parts += ['-H "Content-Type: application/json"', f"--data-binary @{body_file}"]
    parts.append(shlex.quote(url))
    return " ".join(parts)


def _list_flag(values: Sequence[str]) -> str:
    """A gcloud list value; when an item holds a comma, gcloud's ^DELIM^ escape (see `gcloud
    topic escaping`) with a delimiter no item contains."""
    if not any("," in v for v in values):
        return ",".join(values)
    delimiter = next(d for d in "|;~#" if not any(d in v for v in values))
    return f"^{delimiter}^" + delimiter.join(values)


def custom_jobs_create(config: Config, job: Mapping[str, Any], config_file: str) -> str:
    """From JobServiceClient.create_custom_job's CustomJob: one --worker-pool-spec per pool,
    the container's command and args, labels, service account and key; `config_file` (a
    CustomJobSpec YAML) carries the output directory and the timeout, which have no flags."""
    spec = job["job_spec"]
    pools = spec["worker_pool_specs"]
    parts = [command("gcloud ai custom-jobs create", **_where(config),
                     display_name=job["display_name"])]
    for pool in pools:
        machine = pool["machine_spec"]
        keys = {"machine-type": machine["machine_type"], "replica-count": pool["replica_count"],
                "accelerator-type": machine.get("accelerator_type"),
                "accelerator-count": machine.get("accelerator_count"),
                "container-image-uri": pool["container_spec"]["image_uri"]}
        text = ",".join(f"{k}={v}" for k, v in keys.items() if v)
        parts.append(f"--worker-pool-spec={shlex.quote(text)}")
    container = pools[0]["container_spec"]
    parts.append(f"--command={shlex.quote(_list_flag(container['command']))}")
    parts.append(f"--args={shlex.quote(_list_flag(container['args']))}")
    parts.append(command("", labels=dict(job["labels"]), service_account=spec.get("service_account"),
                         kms_key=(job.get("encryption_spec") or {}).get("kms_key_name"),
                         config=config_file).strip())
    return " ".join(p for p in parts if p)
