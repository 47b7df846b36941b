"""Vertex AI Training: `churn train --target vertex` as a CustomJob.

The job runs `python -m pipeline train --data URI --run-dir /tmp/churn/runs/RUN_ID` in the
package's image (naming.image_uri), one chief plus vertex.training.replica_count-1 workers
(Vertex gives each its CLUSTER_SPEC / TF_CONFIG), with base_output_dir
gs://BUCKET/training/RUN_ID/: Vertex sets AIP_MODEL_DIR to its model/ folder, where the train
step copies the SavedModel, and the run directory goes to its run/ folder
(pipeline.training.cloud_output). The training settings travel as --set overrides, so the job
trains exactly what `churn train` would train here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.backends.base import Job
from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.jobs import clients, job_of, placeholder_name
from pipeline.backends.vertex.plan import Plan, PlanStep, plan_file
from pipeline.backends.vertex.session import require_bucket, require_project
from pipeline.config import REMOTE_SCHEMES, Config, config_as_dict
from pipeline.core.rundir import new_run_id
from pipeline.errors import DataError

CONTAINER_COMMAND = ["python", "-m", "pipeline"]
CONTAINER_RUNS = "/tmp/churn/runs"  # noqa: S108 - inside the job's container, not here
SPEC_FILE = "custom_job_spec.yaml"
# What the job's `churn train` must see as here: the sections training reads.
PASSED_SECTIONS = ("split", "train", "evaluate")
PASSED_KEYS = (("data", "label_column"), ("data", "id_column"), ("registry", "model_name"),
               ("monitor", "numeric_bins"), ("vertex", "kms_key_name"))


def training_output_prefix(config: Config, run_id: str) -> str:
    """gs://BUCKET/training/<run_id>/: the job's base output directory."""
    return f"gs://{config.vertex.bucket}/training/{naming.label_value(run_id)}/"


def data_uri(config: Config, data: str | None) -> str:
    """The gs:// or bq:// data the job reads; a local file is refused (the job cannot see it)."""
    source = str(data or config.data.path)
    if source.startswith(REMOTE_SCHEMES):
        return source
    raise DataError(
        f"--data {source}: a Vertex training job reads gs:// or bq:// data, not a file on this "
        f"machine: copy it first (gcloud storage cp {source} {naming.training_data_uri(config)}) "
        f"and pass --data {naming.training_data_uri(config)}, or a BigQuery table as "
        "--data bq://PROJECT.DATASET.TABLE")


def config_overrides(config: Config) -> list[str]:
    """`--set KEY=VALUE` for every setting training reads (values as JSON, which the config
    loader reads as YAML): all of them, so a config file baked into the image cannot change
    what the job trains."""
    ours = config_as_dict(config)
    pairs = [((section, key), value) for section in PASSED_SECTIONS
             for key, value in ours[section].items()]
    pairs += [((section, key), ours[section][key]) for section, key in PASSED_KEYS]
    args: list[str] = []
    for (section, key), value in pairs:
        if value is not None:
            args += ["--set", f"{section}.{key}={json.dumps(value, separators=(',', ':'))}"]
    return args


def container_args(config: Config, uri: str, run_id: str, flags: Sequence[str] = ()) -> list[str]:
    return ["train", "--data", uri, "--run-dir", f"{CONTAINER_RUNS}/{run_id}", *flags,
            *config_overrides(config)]


def worker_pool_specs(config: Config, args: list[str]) -> list[dict[str, Any]]:
    """The chief pool, and a second pool of replica_count-1 workers for multi-worker training."""
    training = config.vertex.training
    machine: dict[str, Any] = {"machine_type": training.machine_type}
    if training.accelerator_type and training.accelerator_count:
        machine.update(accelerator_type=training.accelerator_type,
                       accelerator_count=training.accelerator_count)
    pool = {"machine_spec": machine,
            "disk_spec": {"boot_disk_type": training.boot_disk_type,
                          "boot_disk_size_gb": training.boot_disk_size_gb},
            "container_spec": {"image_uri": naming.image_uri(config),
                               "command": list(CONTAINER_COMMAND), "args": list(args)}}
    pools = [{**pool, "replica_count": 1}]
    if training.replica_count > 1:
        pools.append({**pool, "replica_count": training.replica_count - 1})
    return pools


def custom_job(config: Config, data: str | None, run_id: str, flags: Sequence[str] = ()) -> dict[str, Any]:
    """The CustomJob (JobServiceClient.create_custom_job's custom_job), as a dict."""
    uri = data_uri(config, data)
    spec: dict[str, Any] = {
        "worker_pool_specs": worker_pool_specs(config, container_args(config, uri, run_id, flags)),
        "base_output_directory": {"output_uri_prefix": training_output_prefix(config, run_id)},
        "scheduling": {"timeout": f"{int(config.vertex.training.max_hours * 3600)}s"},
    }
    if config.vertex.service_account:
        spec["service_account"] = config.vertex.service_account
    job: dict[str, Any] = {
        "display_name": f"{config.registry.model_name}-train-{run_id}",
        "job_spec": spec,
        "labels": naming.managed_labels(config, {naming.RUN_ID_LABEL: run_id}),
    }
    if config.vertex.kms_key_name:
        job["encryption_spec"] = {"kms_key_name": config.vertex.kms_key_name}
    return job


def spec_file(job: dict[str, Any]) -> str:
    """The CustomJobSpec YAML gcloud's --config reads: what its flags cannot say."""
    spec = job["job_spec"]
    return yaml.safe_dump({"baseOutputDirectory": {"outputUriPrefix":
                                                   spec["base_output_directory"]["output_uri_prefix"]},
                           "scheduling": {"timeout": spec["scheduling"]["timeout"]}}, sort_keys=False)


def training_plan(config: Config, job: dict[str, Any], parent: str) -> Plan:
    plan = Plan(f"Train {config.registry.model_name} on Vertex AI ({job['display_name']})")
    plan.add(PlanStep(
        "Submit the training job (it runs `python -m pipeline train` in the package's image)",
        "JobServiceClient.create_custom_job", {"parent": parent, "custom_job": job},
        gcloud.custom_jobs_create(config, job, plan_file(SPEC_FILE)),
        files={SPEC_FILE: spec_file(job)}))
    prefix = job["job_spec"]["base_output_directory"]["output_uri_prefix"]
    plan.notes.append(f"the SavedModel lands in {prefix}model/ (AIP_MODEL_DIR) and the run "
                      f"directory in {prefix}run/; follow the job with `churn jobs show JOB_ID`")
    training = config.vertex.training
    if (training.boot_disk_type, training.boot_disk_size_gb) != ("pd-ssd", 100):
        plan.notes.append("gcloud's --worker-pool-spec has no boot-disk keys: the gcloud line gets "
                          "Vertex's default disk (100 GB pd-ssd); the API call sets "
                          f"{training.boot_disk_size_gb} GB {training.boot_disk_type}")
    return plan


def submit_training(config: Config, data: str | None, run_dir: Path | None, dry_run: bool,
                    plans: list[Any], flags: Sequence[str] = ()) -> Job:
    """Submit the training CustomJob (a dry run: plan it); returns the job as submitted."""
    require_project(config)
    require_bucket(config)
    run_id = Path(run_dir).name if run_dir else new_run_id()
    job = custom_job(config, data, run_id, flags)
    parent = naming.location_path(config)
    plan = training_plan(config, job, parent)
    plans.append(plan.as_dict())
    if dry_run:
        return Job(name=placeholder_name(config), kind="custom", display_name=job["display_name"],
                   state="DRY_RUN", labels=job["labels"],
                   output=f"{training_output_prefix(config, run_id)}run/")
    job_client, _, _ = clients(config)
    with translate_errors(f"submit training job {job['display_name']}", config.vertex.project):
        created = job_client.create_custom_job(parent=parent, custom_job=job)
    return job_of("custom", created)
