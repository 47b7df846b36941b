"""Vertex AI Model Registry: upload a run's SavedModel as a new version, resolve model refs.

One Vertex model per `registry.model_name` (display name); every upload after the first is a
new version of it (parent_model), stored at gs://BUCKET/models/<model_name>/<version>/.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.gcs import upload_directory, upload_files
from pipeline.backends.vertex.plan import MODEL_ID, NEXT_VERSION, Plan, PlanStep, dry_run_result
from pipeline.backends.vertex.session import init_vertex, require_bucket, require_project
from pipeline.config import Config
from pipeline.errors import CloudError, RunDirError

log = logging.getLogger(__name__)

# The run's small files, copied beside the SavedModel so a version can be described, served
# and monitored from the registry alone (metrics, threshold, intervals, baseline statistics).
RUN_FILES = ("metrics.json", "baseline_stats.json", "intervals.json", "model_card.json",
             "config.yaml", "data_fingerprint.json")


def upload_run_to_vertex(config: Config, run_dir: Path, aliases: list[str], dry_run: bool,
                         labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Copy run_dir/model to gs://BUCKET/models/<name>/<version>/ and register it on Vertex.

    Returns resource_name, version_id, versioned_resource_name, artifact_uri, aliases, labels.
    """
    run_dir = Path(run_dir)
    model_dir = _model_dir(run_dir)
    require_project(config)
    require_bucket(config)
    aliases = naming.valid_aliases(aliases)
    if dry_run:
        placeholder = f"{naming.location_path(config)}/models/{MODEL_ID}"
        when = f"parent_model only if a model named '{config.registry.model_name}' exists"
        return dry_run_result(
            _upload_plan(config, run_dir, aliases, NEXT_VERSION, placeholder, when, labels))

    credentials = init_vertex(config)
    existing = find_model(config)
    version = next_version(existing) if existing else 1
    parent = existing.resource_name if existing else None
    plan = _upload_plan(config, run_dir, aliases, version, parent, labels=labels)
    copy_step, *files_steps, upload_step = plan.steps
    files = upload_directory(config, credentials, model_dir, copy_step.args["destination"])
    for step in files_steps:  # before registering: a registered version has its run files
        upload_files(config, credentials, [Path(f) for f in step.args["sources"]],
                     step.args["destination"])
    model = _upload_model(config, upload_step.args)
    if str(model.version_id) != str(version):
        log.warning("Vertex numbered the version %s, not %s (a concurrent upload?); its "
                    "artifacts stay under %s", model.version_id, version,
                    upload_step.args["artifact_uri"])
    return {
        "dry_run": False,
        "resource_name": model.resource_name,
        "version_id": str(model.version_id),
        "versioned_resource_name": model.versioned_resource_name,
        "artifact_uri": upload_step.args["artifact_uri"],
        "aliases": list(model.version_aliases),
        "labels": upload_step.args["labels"],
        "files_uploaded": len(files),
        "run_files": naming.runs_prefix(config, run_dir.name),
        "plan": plan.as_dict(),
    }


def _model_dir(run_dir: Path) -> Path:
    model_dir = run_dir / "model"
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise RunDirError(f"{run_dir}: no exported model in {model_dir} (run `churn train` "
                          "first, or pass the run directory it printed)")
    return model_dir


def _upload_plan(config: Config, run_dir: Path, aliases: list[str], version: str | int,
                 parent: str | None, parent_when: str = "",
                 labels: Mapping[str, str] | None = None) -> Plan:
    artifact_uri = naming.models_prefix(config, version)
    description = _version_description(run_dir)
    plan = Plan(f"Upload {run_dir.name} to Vertex AI Model Registry as "
                f"{config.registry.model_name} version {version}")
    plan.add(PlanStep(
        f"Copy the SavedModel to {artifact_uri}", "google.cloud.storage: Blob.upload_from_filename",
        {"source": str(run_dir / "model"), "destination": artifact_uri,
         "kms_key_name": config.vertex.kms_key_name},
        gcloud.storage_copy(run_dir / "model", artifact_uri, config.vertex.kms_key_name)))
    run_files = [run_dir / name for name in RUN_FILES if (run_dir / name).is_file()]
    if run_files:
        runs_uri = naming.runs_prefix(config, run_dir.name)
        plan.add(PlanStep(
            f"Copy the run's files ({', '.join(f.name for f in run_files)}) to {runs_uri}",
            "google.cloud.storage: Blob.upload_from_filename",
            {"sources": [str(f) for f in run_files], "destination": runs_uri,
             "kms_key_name": config.vertex.kms_key_name},
            gcloud.storage_copy_files(run_files, runs_uri, config.vertex.kms_key_name)))
    args: dict[str, Any] = {
        "display_name": config.registry.model_name,
        "artifact_uri": artifact_uri,
        "serving_container_image_uri": config.vertex.serving_image,
        "parent_model": parent,
        "is_default_version": True,
        "version_aliases": list(aliases),
        "version_description": description,
        "labels": naming.managed_labels(config, {**(labels or {}),
                                                 naming.RUN_ID_LABEL: run_dir.name}),
        "encryption_spec_key_name": config.vertex.kms_key_name,
    }
    plan.add(PlanStep(
        "Register the version (the newest upload becomes the default version)",
        "aiplatform.Model.upload", args, gcloud.models_upload(config, args), parent_when))
    if config.vertex.kms_key_name:
        plan.notes.append(
            "`gcloud ai models upload` has no flag for the encryption key "
            f"(encryption_spec_key_name={config.vertex.kms_key_name}): a version uploaded with "
            "the gcloud line is encrypted with a Google-managed key; use `churn upload` to get "
            "the customer-managed key")
    return plan


def _version_description(run_dir: Path) -> str:
    """'run <id>', plus the Keras test ROC-AUC when metrics.json has it."""
    text = f"run {run_dir.name}"
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return text
    auc = metrics.get("test.keras.roc_auc")
    if auc is None:
        auc = metrics.get("test", {}).get("keras", {}).get("roc_auc") if isinstance(
            metrics.get("test"), dict) else None
    return f"{text}; test ROC-AUC {auc:.4f}" if isinstance(auc, int | float) else text


def _upload_model(config: Config, args: Mapping[str, Any]) -> Any:
    from google.cloud import aiplatform

    call_args = {k: v for k, v in args.items() if v is not None}
    # The SDK appends "default" to the alias list it is given: hand it a copy.
    call_args["version_aliases"] = list(args["version_aliases"])
    with translate_errors(f"upload model {config.registry.model_name}", config.vertex.project):
        return aiplatform.Model.upload(**call_args, sync=True)


def find_model(config: Config, display_name: str | None = None) -> Any | None:
    """The Vertex model registered under the display name (default version), or None."""
    from google.cloud import aiplatform

    name = display_name or config.registry.model_name
    with translate_errors(f"look up model {name}", config.vertex.project):
        found = aiplatform.Model.list(filter=f'display_name="{name}"')
    if len(found) > 1:
        managed = [m for m in found if naming.is_managed(m.labels, config)]
        found = managed or found
        log.warning("%d Vertex models are named %s; using %s", len(found), name,
                    found[0].resource_name)
    return found[0] if found else None


def next_version(model: Any) -> int:
    from google.cloud import aiplatform

    with translate_errors(f"list versions of {model.resource_name}"):
        versions = aiplatform.models.ModelRegistry(model).list_versions()
    return max((int(v.version_id) for v in versions), default=0) + 1


def resolve_model_ref(config: Config, ref: str) -> Any:
    """The aiplatform.Model version named by `churn@alias`, `churn@3` or a run directory."""
    from google.cloud import aiplatform

    parsed = naming.parse_model_ref(ref, config)
    model = find_model(config, parsed.name)
    if model is None:
        raise CloudError(f"no Vertex model named '{parsed.name}' in project "
                         f"{config.vertex.project}, region {config.vertex.region}: upload one "
                         "with `churn upload RUN_DIR`")
    selector = parsed.selector
    if parsed.kind == "run":
        selector = _version_of_run(model, parsed.selector)
    try:
        with translate_errors(f"look up {parsed}", config.vertex.project):
            return aiplatform.Model(model_name=f"{model.resource_name}@{selector}")
    except CloudError as exc:
        if "not found" not in str(exc):
            raise
        raise CloudError(f"model '{parsed.name}' has no version or alias '{selector}' on Vertex "
                         "(list them with `gcloud ai models list-version "
                         f"{model.name} --region={config.vertex.region}`)") from None


def _version_of_run(model: Any, run_label: str) -> str:
    from google.cloud import aiplatform

    registry = aiplatform.models.ModelRegistry(model)
    with translate_errors(f"find the version uploaded from run {run_label}"):
        versions = registry.list_versions(filter=f'labels.{naming.RUN_ID_LABEL}="{run_label}"')
    if not versions:
        raise CloudError(f"run {run_label} was never uploaded to Vertex model "
                         f"{model.display_name}: run `churn upload` on it first")
    return str(max(int(v.version_id) for v in versions))
