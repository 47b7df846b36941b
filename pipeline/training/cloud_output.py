"""Inside a Vertex AI training job: the run's results go to Cloud Storage before the
container (and its disk) goes away.

Vertex sets AIP_MODEL_DIR (BASE_OUTPUT_DIR/model/) in a CustomJob given a base output
directory. When it is set, `churn train` copies the exported SavedModel there and the whole
run directory to the sibling run/ folder (BASE_OUTPUT_DIR/run/), with google-cloud-storage
(STORAGE_EMULATOR_HOST reaches gcp-storage-emulator in tests). Only the chief copies: in
multi-worker training every replica runs `churn train`, and the others would race it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "AIP_MODEL_DIR"
PARALLEL_UPLOADS = 8


def is_chief(environ: Mapping[str, str]) -> bool:
    """True for the replica that writes: the chief of the cluster TF_CONFIG or CLUSTER_SPEC
    describes (distributed.read_cluster, the same reading that decides who trains as chief),
    or the only replica when neither is set."""
    from pipeline.training.distributed import read_cluster

    cluster = read_cluster(environ)
    return cluster is None or cluster.is_chief


def run_prefix(model_dir: str) -> str:
    """BASE_OUTPUT_DIR/run/ for AIP_MODEL_DIR = BASE_OUTPUT_DIR/model/."""
    return model_dir.rstrip("/").rsplit("/", 1)[0] + "/run/"


def publish_run(run_dir: Path, kms_key_name: str | None = None,
                environ: Mapping[str, str] | None = None) -> list[str]:
    """Copy the SavedModel to AIP_MODEL_DIR and the run directory next to it; returns the
    object URIs written (none when AIP_MODEL_DIR is unset or this replica is not the chief)."""
    environ = os.environ if environ is None else environ
    model_dir = environ.get(MODEL_DIR_ENV, "")
    if not model_dir:
        return []
    if not model_dir.startswith("gs://"):
        raise OutputError(f"{MODEL_DIR_ENV}={model_dir[:120]}: expected a gs:// prefix (Vertex sets "
                          "it from the job's base output directory)")
    if not is_chief(environ):
        log.info("not the chief replica: the chief copies the results")
        return []
    run_dir = Path(run_dir)
    client = _client()
    written = copy_tree(client, run_dir / "model", model_dir, kms_key_name)
    written += copy_tree(client, run_dir, run_prefix(model_dir), kms_key_name)
    log.info("copied the run to %s and the SavedModel to %s", run_prefix(model_dir), model_dir)
    return written


def _client() -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client()


def copy_tree(client: Any, local_dir: Path, prefix_uri: str, kms_key_name: str | None) -> list[str]:
    """Every file under `local_dir` to `prefix_uri`, keeping relative paths."""
    bucket_name, _, prefix = prefix_uri.removeprefix("gs://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    bucket = client.bucket(bucket_name)
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    names = [prefix + p.relative_to(local_dir).as_posix() for p in files]

    def upload(local: Path, name: str) -> None:
        bucket.blob(name, kms_key_name=kms_key_name).upload_from_filename(str(local))

    from google.api_core import exceptions as gexc

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS) as pool:
            list(pool.map(upload, files, names))
    except gexc.GoogleAPIError as exc:
        raise OutputError(f"copying {local_dir} to {prefix_uri} failed: "
                          f"{' '.join(str(exc).split())[:200]}") from None
    return [f"gs://{bucket_name}/{name}" for name in names]
