"""`churn pipeline run|schedule`: the compiled pipeline on the engine the target names,
`local` (kfp.local on this machine) or `vertex` (Vertex AI Pipelines), by default the one
the config's backend runs on (pipeline.backends.pipeline_target)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.backends import pipeline_target
from pipeline.config import Config
from pipeline.errors import PipelineError


def run_pipeline(config: Config, target: str | None, data: str | None, deploy: bool, dry_run: bool,
                 stop_endpoint: bool = False) -> dict[str, Any]:
    """Run the pipeline here (a LocalPipelineRun under "run") or submit it to Vertex AI
    Pipelines (the vertex function's result: plan, job, state)."""
    if pipeline_target(config, target) == "local":
        from pipeline.orchestration.local_run import run_local

        if dry_run:
            raise PipelineError("--dry-run plans the calls to Vertex AI; --target local runs the pipeline here "
                                "(drop --dry-run, or use --target vertex --dry-run)")
        return {"target": "local", "run": run_local(config, data, deploy, stop_endpoint)}
    from pipeline.backends.vertex.pipeline_jobs import submit_pipeline_job

    template, values, staging = _vertex_inputs(config, data, deploy, dry_run)
    result = submit_pipeline_job(config, template, values, dry_run)
    return {"target": "vertex", "template": str(template), **result,
            "plan": _with_steps(staging, result["plan"])}


def schedule_pipeline(config: Config, target: str | None, cron: str, data: str | None, replace: bool,
                      dry_run: bool) -> dict[str, Any]:
    """A recurring retrain on Vertex AI Pipelines (locally: the crontab line to use instead)."""
    if pipeline_target(config, target) == "local":
        raise PipelineError(f"schedules run on Vertex AI Pipelines; on this machine add a crontab line: "
                            f"{cron} cd {Path.cwd()} && churn pipeline run --target local")
    from pipeline.backends.vertex.pipeline_jobs import create_schedule

    template, values, staging = _vertex_inputs(config, data, True, dry_run)
    result = create_schedule(config, template, values, cron, replace, dry_run)
    return {"target": "vertex", "template": str(template), **result,
            "plan": _with_steps(staging, result["plan"])}


def _vertex_inputs(config: Config, data: str | None, deploy: bool, dry_run: bool
                   ) -> tuple[Path, dict[str, Any], dict[str, Any] | None]:
    """The freshly compiled template, the parameter values, and the plan that stages a local
    data file in the bucket (components read gs:// data through Cloud Storage's mount)."""
    from pipeline.backends.vertex.data_staging import stage_data
    from pipeline.orchestration.definition import compile_pipeline, parameter_values

    template = compile_pipeline(config)
    data_uri, staging = stage_data(config, data or str(config.data.path), dry_run)
    return template, parameter_values(config, data_uri, deploy), staging


def _with_steps(staging: dict[str, Any] | None, plan: dict[str, Any]) -> dict[str, Any]:
    if staging is None:
        return plan
    return {**plan, "steps": staging["steps"] + plan["steps"], "gcloud": staging["gcloud"] + plan["gcloud"]}
