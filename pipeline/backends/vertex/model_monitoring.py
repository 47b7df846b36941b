"""Vertex AI Model Monitoring (v1): a ModelDeploymentMonitoringJob on the project's endpoint.

Per deployed model: training-serving skew against the training CSV copied to gs:// (target
field excluded) and prediction drift between windows, both per feature with the thresholds of
`monitor.thresholds` / `monitor.default_threshold` (the statistics match the local monitor:
Jensen-Shannon for numeric features, L-infinity for categorical ones). Vertex keeps one
monitoring job per endpoint, so setup replaces the job this project created before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.endpoints import find_endpoint, list_deployed
from pipeline.backends.vertex.gcs import upload_file
from pipeline.backends.vertex.plan import (
    DEPLOYED_MODEL_ID,
    ENDPOINT_ID,
    JOB_ID,
    Plan,
    PlanStep,
    dry_run_result,
    plan_file,
)
from pipeline.backends.vertex.session import init_vertex, require_bucket, require_project
from pipeline.config import Config
from pipeline.errors import CloudError
from pipeline.training import schema

log = logging.getLogger(__name__)

SCHEMA_FILE = "instance_schema.yaml"
OBJECTIVES_FILE = "monitoring_objectives.yaml"


def feature_thresholds(config: Config) -> dict[str, float]:
    """Threshold per model feature: monitor.thresholds, else monitor.default_threshold."""
    unknown = sorted(set(config.monitor.thresholds) - set(schema.FEATURES))
    if unknown:
        log.warning("monitor.thresholds %s are not model features; Vertex monitors features "
                    "only, so they are left out", unknown)
    return {f: float(config.monitor.thresholds.get(f, config.monitor.default_threshold))
            for f in schema.FEATURES}


def instance_schema() -> dict[str, Any]:
    """The OpenAPI-style schema of one prediction instance, for Vertex to parse the log."""
    def kind(feature: str) -> str:
        if not schema.is_numeric(feature):
            return "string"
        return "integer" if schema.NUMERIC_RANGES[feature].integer else "number"

    return {"type": "object", "properties": {f: {"type": kind(f)} for f in schema.FEATURES},
            "required": list(schema.FEATURES)}


def setup_model_monitoring(config: Config, dry_run: bool) -> dict[str, Any]:
    """Create (or replace) the monitoring job for every model deployed on the endpoint."""
    require_project(config)
    require_bucket(config)
    thresholds = feature_thresholds(config)
    if dry_run:
        location = naming.location_path(config)
        plan = _setup_plan(config, f"{location}/endpoints/{ENDPOINT_ID}", [DEPLOYED_MODEL_ID],
                           thresholds, [f"{location}/modelDeploymentMonitoringJobs/{JOB_ID}"],
                           "only if this project created one on the endpoint before")
        plan.notes.append("refused when the endpoint has no deployed model: Vertex would answer "
                          "with an empty objective config error")
        return dry_run_result(plan)

    credentials = init_vertex(config)
    endpoint = _endpoint_or_refuse(config)
    deployed_ids = [d.id for d in list_deployed(endpoint)]
    if not deployed_ids:
        raise CloudError(
            f"endpoint {endpoint.resource_name} has no deployed model: a monitoring job needs "
            "one (Vertex rejects it with an empty objective config); run `churn deploy` first")
    previous = jobs_on_endpoint(config, endpoint.resource_name)
    plan = _setup_plan(config, endpoint.resource_name, deployed_ids, thresholds,
                       [j.resource_name for j in previous])
    copy_data, copy_schema, *deletes, create = plan.steps
    upload_file(config, credentials, Path(config.data.path), copy_data.args["destination"])
    _upload_schema(config, credentials, copy_schema.args["destination"])
    for job in previous:
        _delete_job(config, job)
    job = _create_job(config, endpoint, create.args)
    return {
        "dry_run": False,
        "job": job.resource_name,
        "endpoint": endpoint.resource_name,
        "deployed_model_ids": deployed_ids,
        "replaced": [j.resource_name for j in previous],
        "training_data": copy_data.args["destination"],
        "state": _state(job),
        "plan": plan.as_dict(),
    }


def _endpoint_or_refuse(config: Config) -> Any:
    endpoint = find_endpoint(config)
    if endpoint is None:
        raise CloudError(f"no endpoint named '{config.vertex.endpoint_name}' in project "
                         f"{config.vertex.project}, region {config.vertex.region}: run "
                         "`churn deploy` first")
    return endpoint


def _setup_plan(config: Config, endpoint_name: str, deployed_ids: list[str],
                thresholds: dict[str, float], previous: list[str], previous_when: str = ""
                ) -> Plan:
    vertex = config.vertex
    data_uri = naming.training_data_uri(config)
    schema_uri = naming.monitoring_prefix(config) + SCHEMA_FILE
    plan = Plan(f"Model Monitoring for endpoint '{vertex.endpoint_name}' every "
                f"{vertex.monitor_interval_hours} h, sampling {vertex.monitor_sampling_rate:.0%}")
    plan.add(PlanStep("Copy the training data (skew baseline)",
                      "google.cloud.storage: Blob.upload_from_filename",
                      {"source": str(config.data.path), "destination": data_uri},
                      gcloud.storage_copy_file(Path(config.data.path), data_uri,
                                               vertex.kms_key_name)))
    plan.add(PlanStep("Write the prediction instance schema",
                      "google.cloud.storage: Blob.upload_from_string",
                      {"destination": schema_uri, "content": instance_schema()},
                      gcloud.storage_copy_file(plan_file(SCHEMA_FILE), schema_uri,
                                               vertex.kms_key_name),
                      files={SCHEMA_FILE: instance_schema_yaml()}))
    plan.steps += delete_jobs_plan_steps(config, previous, previous_when)
    args = _create_args(config, endpoint_name, deployed_ids, thresholds, data_uri, schema_uri)
    plan.add(PlanStep("Create the monitoring job", "aiplatform.ModelDeploymentMonitoringJob.create",
                      args, gcloud.monitoring_job_create(
                          config, endpoint_name.rsplit("/", 1)[-1], args,
                          plan_file(OBJECTIVES_FILE)),
                      files={OBJECTIVES_FILE: objectives_yaml(args["objective_configs"])}))
    plan.notes.append("`gcloud ai model-monitoring-jobs create` has no flag for "
                      "stats_anomalies_base_directory: a job created with the gcloud line keeps "
                      "its statistics where Vertex chooses, not under "
                      f"{args['stats_anomalies_base_directory']}")
    if not config.monitor.alert_emails:
        plan.notes.append("`gcloud ai model-monitoring-jobs create` requires --emails: set "
                          "monitor.alert_emails (the API call goes without)")
    return plan


def instance_schema_yaml() -> str:
    return yaml.safe_dump(instance_schema(), sort_keys=False)


def objectives_yaml(objectives: Mapping[str, Any]) -> str:
    """The objective configs as `--monitoring-config-from-file` takes them: a
    ModelDeploymentMonitoringJob (REST field names) with only its objective configs set."""
    def thresholds(values: Mapping[str, float]) -> dict[str, Any]:
        return {feature: {"value": value} for feature, value in values.items()}

    configs = [{"deployedModelId": deployed_id, "objectiveConfig": {
        "trainingDataset": {"dataFormat": spec["skew_detection"]["data_format"],
                            "gcsSource": {"uris": [spec["skew_detection"]["data_source"]]},
                            "targetField": spec["skew_detection"]["target_field"]},
        "trainingPredictionSkewDetectionConfig": {
            "skewThresholds": thresholds(spec["skew_detection"]["skew_thresholds"])},
        "predictionDriftDetectionConfig": {
            "driftThresholds": thresholds(spec["drift_detection"]["drift_thresholds"])},
    }} for deployed_id, spec in objectives.items()]
    return yaml.safe_dump({"modelDeploymentMonitoringObjectiveConfigs": configs},
                          sort_keys=False)


def _create_args(config: Config, endpoint_name: str, deployed_ids: list[str],
                 thresholds: dict[str, float], data_uri: str, schema_uri: str) -> dict[str, Any]:
    objective = {
        "skew_detection": {"data_source": data_uri, "data_format": "csv",
                           "target_field": config.data.label_column,
                           "skew_thresholds": dict(thresholds)},
        "drift_detection": {"drift_thresholds": dict(thresholds)},
    }
    return {
        "display_name": naming.monitoring_job_name(config),
        "endpoint": endpoint_name,
        "objective_configs": {deployed_id: objective for deployed_id in deployed_ids},
        "logging_sampling_strategy": {"sample_rate": config.vertex.monitor_sampling_rate},
        "schedule_config": {"monitor_interval": config.vertex.monitor_interval_hours},
        "alert_config": {"user_emails": list(config.monitor.alert_emails), "enable_logging": True},
        "predict_instance_schema_uri": schema_uri,
        "analysis_instance_schema_uri": schema_uri,
        "stats_anomalies_base_directory": naming.monitoring_prefix(config) + "stats/",
        "labels": naming.managed_labels(config),
        "encryption_spec_key_name": config.vertex.kms_key_name,
    }


def _upload_schema(config: Config, credentials: Any, destination: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / SCHEMA_FILE
        path.write_text(instance_schema_yaml(), encoding="utf-8")
        upload_file(config, credentials, path, destination)


def _sdk_objectives(objectives: dict[str, Any]) -> dict[str, Any]:
    from google.cloud.aiplatform import model_monitoring as mm

    return {
        deployed_id: mm.ObjectiveConfig(
            skew_detection_config=mm.SkewDetectionConfig(**spec["skew_detection"]),
            drift_detection_config=mm.DriftDetectionConfig(**spec["drift_detection"]))
        for deployed_id, spec in objectives.items()
    }


def _create_job(config: Config, endpoint: Any, args: Mapping[str, Any]) -> Any:
    from google.cloud import aiplatform
    from google.cloud.aiplatform import model_monitoring as mm

    sdk_args = dict(args)
    sdk_args.update(
        endpoint=endpoint,
        objective_configs=_sdk_objectives(args["objective_configs"]),
        logging_sampling_strategy=mm.RandomSampleConfig(**args["logging_sampling_strategy"]),
        schedule_config=mm.ScheduleConfig(**args["schedule_config"]),
        alert_config=mm.EmailAlertConfig(**args["alert_config"]),
    )
    with translate_errors(f"create the monitoring job on {endpoint.resource_name}",
                          config.vertex.project):
        return aiplatform.ModelDeploymentMonitoringJob.create(
            **{k: v for k, v in sdk_args.items() if v is not None})


def _all_jobs(config: Config) -> list[Any]:
    from google.cloud import aiplatform

    with translate_errors("list model monitoring jobs", config.vertex.project):
        return list(aiplatform.ModelDeploymentMonitoringJob.list())


def managed_jobs(config: Config) -> list[Any]:
    """Monitoring jobs this project created for registry.model_name (found by labels)."""
    return [j for j in _all_jobs(config) if naming.is_managed(j.labels, config)]


def jobs_on_endpoint(config: Config, endpoint_name: str) -> list[Any]:
    """Our earlier job on the endpoint; a job someone else made there is a clear refusal."""
    on_endpoint = [j for j in _all_jobs(config) if j.gca_resource.endpoint == endpoint_name]
    foreign = [j for j in on_endpoint if not naming.is_managed(j.labels, config)]
    if foreign:
        raise CloudError(f"endpoint {endpoint_name} already has monitoring job "
                         f"{foreign[0].resource_name}, not created by this project: delete it "
                         f"(`{gcloud.monitoring_job_delete(config, foreign[0].name)}`) or use "
                         "another endpoint_name")
    return on_endpoint


def _delete_job(config: Config, job: Any) -> None:
    with translate_errors(f"delete monitoring job {job.resource_name}", config.vertex.project):
        job.delete()


def _state(job: Any) -> str:
    state = job.gca_resource.state
    return getattr(state, "name", str(state))


def delete_jobs_plan_steps(config: Config, names: list[str], when: str = "") -> list[PlanStep]:
    return [PlanStep("Delete monitoring job", "aiplatform.ModelDeploymentMonitoringJob.delete",
                     {"self": name}, gcloud.monitoring_job_delete(config, name.rsplit("/", 1)[-1]),
                     when) for name in names]


def delete_model_monitoring(config: Config, dry_run: bool) -> dict[str, Any]:
    """Delete the monitoring job(s) this project created."""
    require_project(config)
    plan = Plan(f"Delete Model Monitoring of {config.registry.model_name}")
    if dry_run:
        name = f"{naming.location_path(config)}/modelDeploymentMonitoringJobs/{JOB_ID}"
        plan.steps += delete_jobs_plan_steps(config, [name], "for each job labelled "
                                             f"{naming.MANAGED_BY_KEY}={naming.MANAGED_BY_VALUE}")
        return dry_run_result(plan)
    init_vertex(config)
    jobs = managed_jobs(config)
    plan.steps += delete_jobs_plan_steps(config, [j.resource_name for j in jobs])
    for job in jobs:
        _delete_job(config, job)
    return {"dry_run": False, "deleted": [j.resource_name for j in jobs], "plan": plan.as_dict()}


def monitoring_status(config: Config, dry_run: bool = False) -> dict[str, Any]:
    """State, schedule and objectives of the project's monitoring job."""
    require_project(config)
    plan = Plan(f"Model Monitoring status of {config.registry.model_name}")
    name = f"{naming.location_path(config)}/modelDeploymentMonitoringJobs/{JOB_ID}"
    plan.add(PlanStep("List monitoring jobs (this project's by label)",
                      "aiplatform.ModelDeploymentMonitoringJob.list", {},
                      gcloud.command("gcloud ai model-monitoring-jobs list",
                                     project=config.vertex.project, region=config.vertex.region)))
    plan.add(PlanStep("Describe the job", "aiplatform.ModelDeploymentMonitoringJob",
                      {"model_deployment_monitoring_job_name": name},
                      gcloud.monitoring_job_describe(config, JOB_ID)))
    if dry_run:
        return dry_run_result(plan)
    init_vertex(config)
    jobs = managed_jobs(config)
    if not jobs:
        return {"dry_run": False, "exists": False,
                "message": "no monitoring job: run `churn monitoring setup`",
                "plan": plan.as_dict()}
    return {"dry_run": False, "exists": True, **_describe(jobs[0]), "plan": plan.as_dict()}


def _describe(job: Any) -> dict[str, Any]:
    resource = job.gca_resource
    objectives = list(resource.model_deployment_monitoring_objective_configs)
    first = objectives[0].objective_config if objectives else None
    skew = first.training_prediction_skew_detection_config if first else None
    return {
        "job": job.resource_name,
        "display_name": resource.display_name,
        "state": _state(job),
        "schedule_state": getattr(resource.schedule_state, "name", str(resource.schedule_state)),
        "endpoint": resource.endpoint,
        "deployed_model_ids": [o.deployed_model_id for o in objectives],
        "features_monitored": len(skew.skew_thresholds) if skew else 0,
        "training_data": first.training_dataset.gcs_source.uris[0]
        if first and first.training_dataset.gcs_source.uris else None,
        "monitor_interval_hours":
            resource.model_deployment_monitoring_schedule_config.monitor_interval.seconds // 3600,
        "sample_rate": resource.logging_sampling_strategy.random_sample_config.sample_rate,
        "alert_emails": list(resource.model_monitoring_alert_config.email_alert_config.user_emails),
        "next_schedule_time": _iso(resource.next_schedule_time),
    }


def _iso(timestamp: Any) -> str | None:
    return timestamp.isoformat() if timestamp else None
