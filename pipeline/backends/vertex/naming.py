"""Names the Vertex backend gives things: labels, gs:// paths, display names, model refs.

Everything here is pure (no Google imports) so dry runs and unit tests stay instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import CloudError, ModelRefError

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "churn-pipeline"
MODEL_LABEL = "churn-model"
RUN_ID_LABEL = "run_id"  # underscore: usable unquoted in list filters
ENDPOINT_LABEL = "churn-endpoint"

_LABEL_MAX = 63
_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")


def label_value(text: str) -> str:
    """A gcloud-label-safe value: lowercase letters, digits, '_' and '-', at most 63 chars."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", str(text).lower()).strip("-")
    return cleaned[:_LABEL_MAX]


def label_key(text: str) -> str:
    """A label key: a value that also starts with a lowercase letter."""
    cleaned = label_value(text)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"k-{cleaned}"
    return cleaned[:_LABEL_MAX]


def safe_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {label_key(k): label_value(v) for k, v in labels.items()}


def managed_labels(config: Config, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels on every resource this project creates; cleanup finds its resources by them."""
    labels = dict(config.registry.labels)
    labels.update({MANAGED_BY_KEY: MANAGED_BY_VALUE, MODEL_LABEL: config.registry.model_name})
    labels.update(extra or {})
    return safe_labels(labels)


def is_managed(labels: Mapping[str, str] | None, config: Config) -> bool:
    labels = labels or {}
    return (labels.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE
            and labels.get(MODEL_LABEL) == label_value(config.registry.model_name))


def models_prefix(config: Config, version: str | int) -> str:
    """gs://BUCKET/models/<model_name>/<version>/: where a version's SavedModel lives."""
    return f"gs://{config.vertex.bucket}/models/{config.registry.model_name}/{version}/"


def runs_prefix(config: Config, run_id: str) -> str:
    """gs://BUCKET/runs/<run_id>/: a run's small files (metrics, baseline, intervals...), so a
    version's metrics and serving files can be read back without the run directory."""
    return f"gs://{config.vertex.bucket}/runs/{label_value(run_id)}/"


def alias_history_uri(config: Config) -> str:
    """The append-only record of every alias move (Vertex keeps none; rollback needs one)."""
    return f"gs://{config.vertex.bucket}/models/{config.registry.model_name}/alias_history.jsonl"


def training_data_uri(config: Config) -> str:
    """Where the training CSV is copied for Model Monitoring's skew baseline."""
    return f"gs://{config.vertex.bucket}/datasets/{config.registry.model_name}/{Path(config.data.path).name}"


def monitoring_prefix(config: Config) -> str:
    return f"gs://{config.vertex.bucket}/monitoring/{config.registry.model_name}/"


def location_path(config: Config) -> str:
    return f"projects/{config.vertex.project}/locations/{config.vertex.region}"


def monitoring_job_name(config: Config) -> str:
    return f"{config.registry.model_name}-monitoring"


def valid_aliases(aliases: Iterable[str]) -> list[str]:
    """Vertex alias rules: lowercase start, letters/digits/'-', not only digits."""
    checked: list[str] = []
    for alias in aliases:
        if not _ALIAS.match(alias) or alias.isdigit():
            raise CloudError(
                f"alias '{alias}' is not valid on Vertex AI: start with a lowercase letter and use "
                "letters, digits and '-' (e.g. --alias champion)")
        if alias not in checked:
            checked.append(alias)
    return checked


@dataclass(frozen=True)
class ModelRef:
    """`churn@champion` (alias), `churn@3` (version) or a run directory (run id label)."""

    name: str
    selector: str
    kind: str  # "alias" | "version" | "run"

    def __str__(self) -> str:
        return f"{self.name}@{self.selector}" if self.kind != "run" else f"run {self.selector}"


def parse_model_ref(ref: str, config: Config) -> ModelRef:
    if "@" not in ref and Path(ref).is_dir():
        return ModelRef(config.registry.model_name, label_value(Path(ref).resolve().name), "run")
    name, sep, selector = ref.partition("@")
    if not sep:
        name, selector = ref, "default"
    if not name or not selector or "@" in selector:
        raise ModelRefError(
            f"model reference '{ref}' is not NAME@ALIAS, NAME@VERSION or a run directory "
            "(e.g. churn@champion, churn@3)")
    return ModelRef(name, selector, "version" if selector.isdigit() else "alias")


def image_uri(config: Config) -> str:
    """The container image that runs this package's `churn` commands on Google's engines
    (training jobs, pipeline components): vertex.image, or the Artifact Registry path that
    `churn image push` builds to, tagged with the package version."""
    if config.vertex.image:
        return config.vertex.image
    from importlib.metadata import PackageNotFoundError, version

    try:
        tag = version("churn-pipeline")
    except PackageNotFoundError:
        tag = "latest"
    project = config.vertex.project or "PROJECT"
    return f"{config.vertex.region}-docker.pkg.dev/{project}/{config.vertex.image_repository}/churn-pipeline:{tag}"
