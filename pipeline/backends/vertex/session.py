"""Checks the vertex settings and points the Vertex AI SDK at the configured project.

`vertex.api_endpoint` set means a private or local endpoint (the tests' fake server): then
calls go over REST with anonymous credentials. Otherwise Application Default Credentials are
looked up once, up front, so a missing login is one clear line instead of a deep traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.backends.vertex.api_errors import credentials_error, translate_errors
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

PLACEHOLDER_PROJECT = "my-gcp-project"
PLACEHOLDER_BUCKET = "my-churn-bucket"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def require_project(config: Config) -> str:
    project = config.vertex.project
    if not project:
        raise CloudError(
            "vertex.project is not set: put your Google Cloud project id in the config "
            "(see configs/vertex.yaml) or pass --set vertex.project=YOUR_PROJECT")
    return project


def require_bucket(config: Config) -> str:
    bucket = config.vertex.bucket
    if not bucket:
        raise CloudError(
            "vertex.bucket is not set: name a GCS bucket in the same region (without gs://) "
            "in the config or pass --set vertex.bucket=YOUR_BUCKET")
    if bucket.startswith("gs://") or "/" in bucket:
        raise CloudError(f"vertex.bucket '{bucket}' must be a bare bucket name, without gs:// "
                         "or a path (e.g. my-churn-bucket)")
    return bucket


def uses_custom_endpoint(config: Config) -> bool:
    return bool(config.vertex.api_endpoint)


def _refuse_placeholders(config: Config) -> None:
    if uses_custom_endpoint(config):
        return
    for value, key in ((config.vertex.project, "project"), (config.vertex.bucket, "bucket")):
        if value in (PLACEHOLDER_PROJECT, PLACEHOLDER_BUCKET):
            raise CloudError(f"vertex.{key} is still the example value '{value}': set your own "
                             f"with --set vertex.{key}=... or edit the config (--dry-run works "
                             "with the example values)")


def vertex_credentials(config: Config) -> Any:
    """Anonymous credentials for a custom endpoint, else Application Default Credentials."""
    from google.auth import exceptions as auth_exc

    if uses_custom_endpoint(config):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except auth_exc.DefaultCredentialsError as exc:
        raise credentials_error(exc) from None
    return credentials


def init_vertex(config: Config) -> Any:
    """aiplatform.init from VertexConfig; returns the credentials it was given."""
    project = require_project(config)
    _refuse_placeholders(config)
    credentials = vertex_credentials(config)
    vertex = config.vertex
    options: dict[str, Any] = {
        "project": project,
        "location": vertex.region,
        "credentials": credentials,
        "encryption_spec_key_name": vertex.kms_key_name,
        "service_account": vertex.service_account,
    }
    if vertex.api_endpoint:
        options.update(api_endpoint=vertex.api_endpoint, api_transport="rest")
    with translate_errors("initialise Vertex AI", project):
        from google.cloud import aiplatform
        from google.cloud.aiplatform import initializer

        # aiplatform.init only ever sets fields, never clears them: start from a clean slate
        # so an endpoint or key from an earlier config in this process cannot leak in.
        initializer.global_config.__init__()  # type: ignore[misc]
        aiplatform.init(**options)
    log.info("Vertex AI: project %s, region %s%s", project, vertex.region,
             f", endpoint {vertex.api_endpoint}" if vertex.api_endpoint else "")
    return credentials
