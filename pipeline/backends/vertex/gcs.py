"""Copies local files to Cloud Storage (gs://BUCKET/prefix/...).

google-cloud-storage honours STORAGE_EMULATOR_HOST, which is how the tests reach
gcp-storage-emulator. A customer-managed key, when configured, encrypts every object written.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

_PARALLEL_UPLOADS = 8


def split_gs_uri(uri: str) -> tuple[str, str]:
    """('bucket', 'path/inside/') from gs://bucket/path/inside/."""
    if not uri.startswith("gs://"):
        raise CloudError(f"'{uri}' is not a gs:// URI")
    bucket, _, path = uri[len("gs://"):].partition("/")
    return bucket, path


def storage_client(config: Config, credentials: Any) -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client(project=config.vertex.project, credentials=credentials)


def _bucket(client: Any, name: str, config: Config) -> Any:
    from google.api_core import exceptions as gexc

    bucket = client.bucket(name)
    try:
        bucket.reload()
    except gexc.NotFound:
        raise CloudError(
            f"bucket gs://{name} does not exist: create it with `gcloud storage buckets create "
            f"gs://{name} --project={config.vertex.project} --location={config.vertex.region}`"
        ) from None
    return bucket


def local_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if not files:
        raise CloudError(f"{directory}: no files to upload (is the model exported?)")
    return files


def upload_directory(config: Config, credentials: Any, directory: Path, destination: str
                     ) -> list[str]:
    """Copy every file under `directory` to the `destination` prefix; returns the object URIs.

    Objects already under the prefix are leftovers of an upload that never got registered
    (the version number is only taken when Model.upload succeeds), so they are removed first:
    a version's folder holds exactly one SavedModel.
    """
    bucket_name, prefix = split_gs_uri(destination)
    with translate_errors(f"copy {directory} to {destination}", config.vertex.project):
        client = storage_client(config, credentials)
        bucket = _bucket(client, bucket_name, config)
        stale = list(client.list_blobs(bucket, prefix=prefix))
        if stale:
            log.warning("removing %d unregistered objects under %s", len(stale), destination)
            for blob in stale:
                blob.delete()
        files = local_files(directory)
        names = [prefix + p.relative_to(directory).as_posix() for p in files]
        with ThreadPoolExecutor(max_workers=_PARALLEL_UPLOADS) as pool:
            list(pool.map(lambda local, name: _upload(bucket, config, local, name), files, names))
    log.info("uploaded %d files to %s", len(files), destination)
    return [f"gs://{bucket_name}/{name}" for name in names]


def upload_file(config: Config, credentials: Any, local: Path, destination: str) -> str:
    """Copy one file unless an object with the same MD5 is already there; returns its URI."""
    import base64
    import hashlib

    bucket_name, name = split_gs_uri(destination)
    with translate_errors(f"copy {local} to {destination}", config.vertex.project):
        bucket = _bucket(storage_client(config, credentials), bucket_name, config)
        existing = bucket.get_blob(name)
        digest = base64.b64encode(hashlib.md5(local.read_bytes()).digest()).decode()
        if existing is not None and existing.md5_hash == digest:
            log.info("%s is already up to date", destination)
        else:
            _upload(bucket, config, local, name)
    return destination


def _upload(bucket: Any, config: Config, local: Path, name: str) -> None:
    blob = bucket.blob(name, kms_key_name=config.vertex.kms_key_name)
    blob.upload_from_filename(str(local))


def list_objects(config: Config, credentials: Any, prefix_uri: str) -> list[str]:
    bucket_name, prefix = split_gs_uri(prefix_uri)
    with translate_errors(f"list {prefix_uri}", config.vertex.project):
        client = storage_client(config, credentials)
        return [f"gs://{bucket_name}/{b.name}" for b in client.list_blobs(bucket_name,
                                                                           prefix=prefix)]


def upload_files(config: Config, credentials: Any, files: list[Path], destination: str
                 ) -> list[str]:
    """Copy `files` side by side under the `destination` prefix (unchanged ones are skipped)."""
    return [upload_file(config, credentials, f, destination + f.name) for f in files]


def read_text(config: Config, credentials: Any, uri: str) -> str | None:
    """The object's text, or None when there is no such object."""
    bucket_name, name = split_gs_uri(uri)
    with translate_errors(f"read {uri}", config.vertex.project):
        blob = storage_client(config, credentials).bucket(bucket_name).get_blob(name)
        return None if blob is None else blob.download_as_bytes().decode("utf-8")


def download_prefix(config: Config, credentials: Any, prefix_uri: str, target: Path) -> list[Path]:
    """Copy every object under `prefix_uri` to `target`, keeping the relative paths."""
    bucket_name, prefix = split_gs_uri(prefix_uri)
    written: list[Path] = []
    with translate_errors(f"download {prefix_uri}", config.vertex.project):
        client = storage_client(config, credentials)
        for blob in client.list_blobs(bucket_name, prefix=prefix):
            relative = blob.name[len(prefix):]
            if not relative or relative.endswith("/"):
                continue  # folder placeholder objects
            local = target / relative
            if ".." in Path(relative).parts:
                raise CloudError(f"{prefix_uri}: object {relative[:100]!r} would land outside "
                                 f"{target}; refusing to download it")
            local.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(local))
            written.append(local)
    return written
