"""The plans (API calls and gcloud equivalents) of the Vertex registry's calls that have no
plan-returning function of their own: look-ups, alias moves, downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.backends.base import ModelVersion
from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.alias_history import append_step
from pipeline.backends.vertex.plan import Plan, PlanStep
from pipeline.config import Config


def lookup_plan(config: Config, title: str, selector: str | None) -> dict[str, Any]:
    plan = Plan(title)
    name = config.registry.model_name
    plan.add(PlanStep(f"Find model '{name}'", "aiplatform.Model.list",
                      {"filter": f'display_name="{name}"'},
                      gcloud.command("gcloud ai models list", project=config.vertex.project,
                                     region=config.vertex.region, filter=f"display_name={name}")))
    if selector is None:
        plan.add(PlanStep("List its versions", "ModelServiceClient.list_model_versions",
                          {"name": f"{naming.location_path(config)}/models/<MODEL_ID>"},
                          gcloud.command("gcloud ai models list-version", "<MODEL_ID>",
                                         project=config.vertex.project,
                                         region=config.vertex.region)))
    else:
        plan.add(PlanStep(f"Describe version {selector}", "aiplatform.Model",
                          {"model_name": f"{naming.location_path(config)}/models/<MODEL_ID>"
                                         f"@{selector}"},
                          gcloud.command("gcloud ai models describe", f"<MODEL_ID>@{selector}",
                                         project=config.vertex.project,
                                         region=config.vertex.region)))
    plan.add(PlanStep("Read each version's metrics.json",
                      "google.cloud.storage: Blob.download_as_bytes",
                      {"source": naming.runs_prefix(config, "<RUN_ID>") + "metrics.json"},
                      gcloud.command("gcloud storage cat",
                                     naming.runs_prefix(config, "<RUN_ID>") + "metrics.json")))
    return plan.as_dict()


def move_plan(config: Config, title: str, version: str, alias: str,
               model_name: str | None = None, with_history: bool = True) -> dict[str, Any]:
    model_name = model_name or f"{naming.location_path(config)}/models/<MODEL_ID>"
    plan = Plan(title)
    plan.add(PlanStep(f"Move alias {alias}", "ModelServiceClient.merge_version_aliases",
                      {"name": f"{model_name}@{version}", "version_aliases": [alias]},
                      gcloud.command("gcloud ai models add-version-aliases",
                                     f"{model_name.rsplit('/', 1)[-1]}@{version}",
                                     project=config.vertex.project, region=config.vertex.region,
                                     version_aliases=alias)))
    if with_history:
        plan.add(append_step(config, f"the move of {alias}"))
    return plan.as_dict()


def fetch_plan(config: Config, version: ModelVersion, target: Path) -> dict[str, Any]:
    plan = Plan(f"Download {version.ref} to {target}")
    runs = naming.runs_prefix(config, version.run_id or "<RUN_ID>")
    for purpose, source, destination in (("the SavedModel", version.location, target / "model"),
                                         ("the run files", runs, target)):
        plan.add(PlanStep(f"Download {purpose}", "google.cloud.storage: Blob.download_to_filename",
                          {"source": source, "destination": str(destination)},
                          gcloud.command("gcloud storage cp -r", source + "*", str(destination)),
                          "unless a complete copy is already there"))
    return plan.as_dict()
