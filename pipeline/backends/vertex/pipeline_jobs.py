"""Vertex AI Pipelines: the compiled churn pipeline submitted as a PipelineJob, and a
recurring retrain schedule (PipelineJobSchedule) that starts one on a cron.

Both carry the project's labels (naming.managed_labels; a schedule has no labels of its own,
the pipeline job it creates does), run as vertex.service_account, write to
gs://BUCKET/pipelines (the pipeline root) and use vertex.kms_key_name. gcloud has no command
for pipeline jobs or schedules (`gcloud ai` lists none): a dry run's equivalent is the REST
call as curl, with the request body in the plan folder.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.plan import Plan, PlanStep, dry_run_result, plan_file
from pipeline.backends.vertex.session import init_vertex, require_bucket, require_project
from pipeline.config import Config
from pipeline.errors import CloudError

JOB_BODY = "pipeline_job.json"
SCHEDULE_BODY = "schedule.json"
SHOWN_CHARS = 160  # of the config parameter in the plan table (the body file has all of it)


def pipeline_root(config: Config) -> str:
    return f"gs://{require_bucket(config)}/pipelines"


def schedule_name(config: Config) -> str:
    """The schedule's display name: how `--replace` (and cleanup) recognise ours."""
    return f"{config.registry.model_name}-retrain"


def new_job_id(config: Config) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return naming.label_value(f"{config.registry.model_name}-pipeline-{stamp}-{uuid.uuid4().hex[:4]}")


def api_base(config: Config) -> str:
    host = config.vertex.api_endpoint or f"{config.vertex.region}-aiplatform.googleapis.com"
    return (host if host.startswith("http") else f"https://{host}") + "/v1"


def job_args(config: Config, template: Path, values: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    """aiplatform.PipelineJob's arguments."""
    return {"display_name": f"{config.registry.model_name}-pipeline", "template_path": str(template),
            "job_id": job_id, "pipeline_root": pipeline_root(config), "parameter_values": dict(values),
            "enable_caching": False, "labels": naming.managed_labels(config),
            "encryption_spec_key_name": config.vertex.kms_key_name}


def job_body(config: Config, args: Mapping[str, Any]) -> dict[str, Any]:
    """The REST PipelineJob the SDK sends for `args` (what the curl line posts)."""
    # The first document is the pipeline spec (a platform spec, when there is one, follows it).
    spec = next(yaml.safe_load_all(Path(args["template_path"]).read_text(encoding="utf-8")))
    body: dict[str, Any] = {"displayName": args["display_name"], "pipelineSpec": spec, "labels": args["labels"],
                            "runtimeConfig": {"gcsOutputDirectory": args["pipeline_root"],
                                              "parameterValues": args["parameter_values"]}}
    if config.vertex.service_account:
        body["serviceAccount"] = config.vertex.service_account
    if args["encryption_spec_key_name"]:
        body["encryptionSpec"] = {"kmsKeyName": args["encryption_spec_key_name"]}
    return body


def shown(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as the plan table shows them: the config text cut to a few lines."""
    values = dict(args["parameter_values"])
    text = str(values.get("config", ""))
    if len(text) > SHOWN_CHARS:
        values["config"] = f"{text[:SHOWN_CHARS]}... ({len(text)} characters in full in the body file)"
    return {**args, "parameter_values": values}


def submit_pipeline_job(config: Config, template: Path, values: Mapping[str, Any], dry_run: bool
                        ) -> dict[str, Any]:
    """Submit the compiled pipeline as a PipelineJob (does not wait for it)."""
    require_project(config)
    args = job_args(config, template, values, new_job_id(config))
    parent = naming.location_path(config)
    url = f"{api_base(config)}/{parent}/pipelineJobs?pipelineJobId={args['job_id']}"
    plan = Plan(f"Run the churn pipeline on Vertex AI Pipelines as {args['job_id']}")
    plan.add(PlanStep("Submit the pipeline job", "aiplatform.PipelineJob(...).submit",
                      {**shown(args), "service_account": config.vertex.service_account},
                      gcloud.curl_line("POST", url, plan_file(JOB_BODY)),
                      files={JOB_BODY: json.dumps(job_body(config, args), indent=2) + "\n"}))
    plan.notes.append("gcloud has no pipeline-jobs command: the equivalent is the REST call (curl)")
    if dry_run:
        return dry_run_result(plan, job=f"{parent}/pipelineJobs/{args['job_id']}")
    init_vertex(config)
    with translate_errors(f"submit pipeline job {args['job_id']}", config.vertex.project):
        from google.cloud import aiplatform

        job = aiplatform.PipelineJob(**args)
        job.submit(service_account=config.vertex.service_account)
        return {"dry_run": False, "job": job.resource_name, "state": _state_name(job.state),
                "console": _console_url(config, args["job_id"]), "plan": plan.as_dict()}


def pipeline_job_state(config: Config, job_id: str) -> dict[str, Any]:
    """A pipeline job's state, per task (`churn pipeline show`)."""
    require_project(config)
    init_vertex(config)
    name = job_id if job_id.startswith("projects/") else f"{naming.location_path(config)}/pipelineJobs/{job_id}"
    with translate_errors(f"read pipeline job {name}", config.vertex.project):
        from google.cloud import aiplatform

        job = aiplatform.PipelineJob.get(name)
        resource = job.gca_resource
        tasks = {t.task_name: t.state.name for t in resource.job_detail.task_details if t.task_name}
        error = resource.error.message if resource.error and resource.error.message else ""
        return {"job": job.resource_name, "state": resource.state.name, "tasks": tasks,
                "labels": dict(resource.labels), "error": error}


def create_schedule(config: Config, template: Path, values: Mapping[str, Any], cron: str, replace: bool,
                    dry_run: bool) -> dict[str, Any]:
    """A recurring retrain: a schedule that submits the pipeline on `cron` (one run at a
    time). An existing schedule of ours is refused unless `replace`, which deletes it first."""
    require_project(config)
    fields = cron.split()
    if len(fields[1:] if fields and fields[0].startswith(("TZ=", "CRON_TZ=")) else fields) != 5:
        raise CloudError(f"--cron '{cron}': expected 5 fields (minute hour day month weekday), "
                         "e.g. \"0 3 * * 1\" for Mondays at 03:00 UTC")
    args = job_args(config, template, values, new_job_id(config))
    parent = naming.location_path(config)
    body = {"displayName": schedule_name(config), "cron": cron, "maxConcurrentRunCount": 1,
            "createPipelineJobRequest": {"parent": parent, "pipelineJob": job_body(config, args)}}
    plan = Plan(f"Schedule the churn pipeline: '{cron}' ({schedule_name(config)})")
    existing = [] if dry_run else our_schedules(config)
    if existing and not replace:
        raise CloudError(f"schedule '{schedule_name(config)}' already exists ({existing[0]}): pass --replace "
                         "to delete it and create the new one")
    for name in existing or (["<SCHEDULE>"] if replace else []):
        plan.add(PlanStep(f"Delete the previous schedule {name}", "aiplatform.PipelineJobSchedule.delete",
                          {"name": name}, gcloud.curl_line("DELETE", f"{api_base(config)}/{name}"),
                          when="only if one of ours exists" if dry_run else ""))
    schedule_args = {"display_name": schedule_name(config), "cron": cron, "max_concurrent_run_count": 1,
                     "service_account": config.vertex.service_account}
    plan.add(PlanStep("Create the schedule", "aiplatform.PipelineJobSchedule(PipelineJob(...)).create",
                      {"pipeline_job": shown(args), **schedule_args},
                      gcloud.curl_line("POST", f"{api_base(config)}/{parent}/schedules", plan_file(SCHEDULE_BODY)),
                      files={SCHEDULE_BODY: json.dumps(body, indent=2) + "\n"}))
    plan.notes.append("gcloud has no schedules command: the equivalent is the REST call (curl); "
                      "each scheduled run is billed as a pipeline run")
    if dry_run:
        return dry_run_result(plan, schedule=f"{parent}/schedules/<SCHEDULE_ID>")
    with translate_errors(f"create schedule {schedule_name(config)}", config.vertex.project):
        from google.cloud import aiplatform

        for name in existing:
            aiplatform.PipelineJobSchedule.get(name).delete()
        schedule = aiplatform.PipelineJobSchedule(aiplatform.PipelineJob(**args), schedule_name(config))
        schedule.create(cron=cron, max_concurrent_run_count=1, service_account=config.vertex.service_account)
        return {"dry_run": False, "schedule": schedule.resource_name, "cron": cron,
                "state": _state_name(schedule.state), "replaced": existing, "plan": plan.as_dict()}


def our_schedules(config: Config) -> list[str]:
    """Schedules of this model's pipeline: our display name, and our labels on the job they make."""
    init_vertex(config)
    with translate_errors("list schedules", config.vertex.project):
        from google.cloud import aiplatform

        found = aiplatform.PipelineJobSchedule.list(filter=f'display_name="{schedule_name(config)}"')
        return [s.resource_name for s in found if s.display_name == schedule_name(config)
                and naming.is_managed(s.gca_resource.create_pipeline_job_request.pipeline_job.labels, config)]


def _state_name(state: Any) -> str:
    return str(getattr(state, "name", state))


def _console_url(config: Config, job_id: str) -> str:
    return (f"https://console.cloud.google.com/vertex-ai/locations/{config.vertex.region}/pipelines/runs/"
            f"{job_id}?project={config.vertex.project}")
