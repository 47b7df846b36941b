"""Vertex AI batch prediction: `churn predict --target vertex` as a BatchPredictionJob.

The whole customer base is scored by the registered model (churn@champion resolved through
the registry) on vertex.batch machines, from gs:// JSONL or a BigQuery table to a gs:// prefix
or a BigQuery dataset. Every instance reaches the model as an object without customerID (the
instance config's key_field takes it out; the label is excluded too) and every prediction
comes back with it, as `key`: one line {"key": ID, "prediction": {...}} per customer.

CSV on gs:// is refused: Vertex turns CSV rows into arrays, which the SavedModel's named
inputs cannot take; BigQuery tables and JSONL keep column names.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from pipeline.backends.base import Job
from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.jobs import clients, job_of, placeholder_name
from pipeline.backends.vertex.plan import MODEL_ID, Plan, PlanStep, plan_file
from pipeline.backends.vertex.session import require_project
from pipeline.config import Config
from pipeline.errors import DataError

BODY_FILE = "batch_prediction_job.json"
INPUT_HINT = ("gs://BUCKET/path/customers.jsonl (one JSON object per line, Telco columns) or "
              "bq://PROJECT.DATASET.TABLE")


def input_config(source: str) -> dict[str, Any]:
    """InputConfig for gs:// JSONL (wildcards allowed) or bq://PROJECT.DATASET.TABLE."""
    if source.startswith("bq://"):
        if len(source.removeprefix("bq://").split(".")) != 3:
            raise DataError(f"--input {source}: expected a BigQuery table as bq://PROJECT.DATASET.TABLE")
        return {"instances_format": "bigquery", "bigquery_source": {"input_uri": source}}
    if source.startswith("gs://"):
        if source.lower().endswith(".csv"):
            raise DataError(
                f"--input {source}: Vertex batch prediction sends CSV rows as arrays, which the "
                "model's named inputs cannot take: load the CSV into BigQuery (bq load --autodetect "
                "DATASET.TABLE FILE) and pass --input bq://PROJECT.DATASET.TABLE, or give JSONL")
        return {"instances_format": "jsonl", "gcs_source": {"uris": [source]}}
    raise DataError(f"--input {source}: a Vertex batch prediction job reads {INPUT_HINT}, not a "
                    "file on this machine (score a local file with `churn predict` without "
                    "--target vertex, or copy it to gs:// as JSONL first)")


def output_config(destination: str) -> dict[str, Any]:
    """OutputConfig for a gs:// prefix (JSONL) or bq://PROJECT[.DATASET]."""
    if destination.startswith("bq://"):
        if not 1 <= len(destination.removeprefix("bq://").split(".")) <= 2:
            raise DataError(f"--output {destination}: expected bq://PROJECT or bq://PROJECT.DATASET "
                            "(Vertex creates the predictions table in it)")
        return {"predictions_format": "bigquery", "bigquery_destination": {"output_uri": destination}}
    if destination.startswith("gs://"):
        prefix = destination if destination.endswith("/") else destination + "/"
        return {"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": prefix}}
    raise DataError(f"--output {destination}: a Vertex batch prediction job writes to a gs:// "
                    "prefix or a bq://PROJECT.DATASET dataset")


def batch_job(config: Config, model: str, source: str, destination: str) -> dict[str, Any]:
    """The BatchPredictionJob (JobServiceClient.create_batch_prediction_job's), as a dict."""
    batch = config.vertex.batch
    excluded = [f for f in batch.excluded_fields if f != config.data.id_column]
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    job: dict[str, Any] = {
        "display_name": f"{config.registry.model_name}-predict-{stamp}",
        "model": model,
        "input_config": input_config(source),
        "instance_config": {"instance_type": "object", "key_field": config.data.id_column,
                            "excluded_fields": excluded},
        "output_config": output_config(destination),
        "dedicated_resources": {"machine_spec": {"machine_type": batch.machine_type},
                                "starting_replica_count": batch.starting_replica_count,
                                "max_replica_count": max(batch.max_replica_count,
                                                         batch.starting_replica_count)},
        "labels": naming.managed_labels(config),
    }
    if config.vertex.service_account:
        job["service_account"] = config.vertex.service_account
    if config.vertex.kms_key_name:
        job["encryption_spec"] = {"kms_key_name": config.vertex.kms_key_name}
    return job


def rest_body(value: Any) -> Any:
    """The REST JSON of a request dict: the same fields, camelCase keys (labels kept as given)."""
    if isinstance(value, dict):
        return {(key if key == "labels" else _camel(key)):
                (dict(item) if key == "labels" else rest_body(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [rest_body(v) for v in value]
    return value


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.title() for word in rest)


def batch_plan(config: Config, job: dict[str, Any], parent: str) -> Plan:
    plan = Plan(f"Score {job['input_config'].get('gcs_source', job['input_config'].get('bigquery_source'))}"
                f" with {job['model'].rsplit('/', 1)[-1]} on Vertex AI batch prediction")
    plan.add(PlanStep("Submit the batch prediction job", "JobServiceClient.create_batch_prediction_job",
                      {"parent": parent, "batch_prediction_job": job},
                      gcloud.rest_call(config, "POST", f"{parent}/batchPredictionJobs",
                                       plan_file(BODY_FILE)),
                      files={BODY_FILE: json.dumps(rest_body(job), indent=2) + "\n"}))
    plan.notes.append("gcloud has no batch prediction command: the line is the same REST call")
    plan.notes.append(where_text(job))
    return plan


def where_text(job: dict[str, Any]) -> str:
    out = job["output_config"]
    key = job["instance_config"]["key_field"]
    if "gcs_destination" in out:
        prefix = out["gcs_destination"]["output_uri_prefix"]
        return (f"predictions go to a new folder under {prefix} (prediction-<model>-<time>/"
                f"predictions_*.jsonl), one line per customer: {{\"key\": {key}, \"prediction\": ...}}")
    return (f"predictions go to a new table in {out['bigquery_destination']['output_uri']} "
            f"(predictions_<time>), with a `key` column holding {key}")


def submit_batch_prediction(config: Config, model: str, source: str, destination: str,
                            dry_run: bool, plans: list[Any]) -> Job:
    """Submit the job (a dry run: plan it); `model` is a version's resource name
    (projects/.../models/ID@VERSION)."""
    require_project(config)
    if dry_run and not model:
        model = f"{naming.location_path(config)}/models/{MODEL_ID}@<VERSION>"
    job = batch_job(config, model, source, destination)
    parent = naming.location_path(config)
    plan = batch_plan(config, job, parent)
    plans.append(plan.as_dict())
    if dry_run:
        return Job(name=placeholder_name(config, "batchPredictionJobs"), kind="batch_prediction",
                   display_name=job["display_name"], state="DRY_RUN", labels=job["labels"],
                   output=destination, details={"where": where_text(job)})
    job_client, _, _ = clients(config)
    with translate_errors(f"submit batch prediction job {job['display_name']}", config.vertex.project):
        created = job_client.create_batch_prediction_job(parent=parent, batch_prediction_job=job)
    found = job_of("batch_prediction", created)
    return replace(found, details={**found.details, "where": where_text(job)})
