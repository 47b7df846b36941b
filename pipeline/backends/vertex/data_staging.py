"""A local training CSV copied to the bucket for the engines that run in Google Cloud
(Vertex AI Pipelines' components read gs:// data through Cloud Storage's mount)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.backends.vertex import gcloud
from pipeline.backends.vertex.plan import Plan, PlanStep
from pipeline.backends.vertex.session import init_vertex, require_bucket
from pipeline.config import Config
from pipeline.errors import DataError


def staged_uri(config: Config, local: Path) -> str:
    """gs://BUCKET/datasets/<model_name>/<file name>: where a local CSV is copied."""
    return f"gs://{require_bucket(config)}/datasets/{config.registry.model_name}/{local.name}"


def stage_data(config: Config, data: str, dry_run: bool) -> tuple[str, dict[str, Any] | None]:
    """(the gs:// URI the engine reads, the plan of the copy or None): a gs:// URI is used as
    it is; a local file is copied to staged_uri (skipped when the same bytes are there)."""
    if data.startswith("gs://"):
        return data, None
    local = Path(data)
    if not local.is_file():
        raise DataError(f"{local}: training data not found (pass --data FILE.csv or gs://BUCKET/FILE.csv)")
    destination = staged_uri(config, local)
    plan = Plan(f"Stage {local.name} in the bucket")
    plan.add(PlanStep(f"Copy {local} to {destination}", "storage.Blob.upload_from_filename",
                      {"source": str(local), "destination": destination},
                      gcloud.storage_copy_file(local, destination, config.vertex.kms_key_name),
                      when="skipped when an object with the same MD5 is already there"))
    if not dry_run:
        from pipeline.backends.vertex.gcs import upload_file

        upload_file(config, init_vertex(config), local, destination)
    return destination, plan.as_dict()
