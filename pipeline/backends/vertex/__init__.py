"""The Vertex AI backend: registry upload, endpoint deploy/undeploy, alerts, Model Monitoring,
training jobs, batch prediction jobs and the cleanup of the project's jobs.

`VertexBackend(config, dry_run=False)` (backend.py) implements the backend interface of
pipeline/backends/base.py on top of the functions below.

Every public function takes the Config and `dry_run`; with dry_run=True it calls nothing,
needs no credentials and returns the plan (API calls with their arguments and the equivalent
gcloud commands); pipeline.backends.vertex.plan renders plans and results.

Attributes load lazily: importing google-cloud-aiplatform takes seconds, and the CLI imports
this package on every start.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "VertexBackend": "pipeline.backends.vertex.backend",
    "upload_run_to_vertex": "pipeline.backends.vertex.model_registry",
    "resolve_model_ref": "pipeline.backends.vertex.model_registry",
    "deploy_to_vertex": "pipeline.backends.vertex.endpoints",
    "undeploy_from_vertex": "pipeline.backends.vertex.teardown",
    "cleanup_vertex": "pipeline.backends.vertex.teardown",
    "setup_alerts": "pipeline.backends.vertex.alert_policies",
    "delete_alerts": "pipeline.backends.vertex.alert_policies",
    "setup_model_monitoring": "pipeline.backends.vertex.model_monitoring",
    "monitoring_status": "pipeline.backends.vertex.model_monitoring",
    "delete_model_monitoring": "pipeline.backends.vertex.model_monitoring",
    "render_plan": "pipeline.backends.vertex.plan",
    "submit_training": "pipeline.backends.vertex.training_jobs",
    "submit_batch_prediction": "pipeline.backends.vertex.batch_jobs",
    "cleanup_jobs": "pipeline.backends.vertex.jobs_cleanup",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipeline.backends.vertex' has no attribute {name!r}")
