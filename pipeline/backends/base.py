"""The one backend interface: a model registry, an endpoint and monitoring, chosen once from
the config (`backend: local` or `backend: vertex`).

Every CLI command and every step that touches the registry, an endpoint or logged traffic
makes one call on a `Backend`; nothing outside pipeline/backends/ asks which backend it has.
Both implementations return the same types. A dry run is the vertex backend recording the
API calls it would make (`Backend.plans`) instead of making them; values only known at run
time then come back as <PLACEHOLDERS>.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from pipeline.config import Config


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, as both registries describe it."""

    name: str
    version_id: str
    aliases: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""
    run_id: str = ""
    threshold: float | None = None
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    location: str = ""  # a local folder or gs:// prefix holding the version's SavedModel
    resource_name: str = ""  # Vertex: projects/.../models/ID@VERSION; local: empty

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version_id}"


@dataclass(frozen=True)
class LocalModel:
    """A version's files on this machine: the SavedModel and the run files that came with it
    (metrics, intervals, baseline statistics), for serving, monitoring and gating."""

    version: ModelVersion
    source_dir: Path

    @property
    def model_dir(self) -> Path:
        return self.source_dir / "model"


@dataclass(frozen=True)
class Deployment:
    """A model serving on an endpoint."""

    endpoint: str
    url: str
    model_ref: str
    model_version: str
    deployed_model_id: str = ""
    traffic_split: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a call that has no richer result did: a one-line message and its details."""

    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Registry(Protocol):
    """Versions and aliases of the configured model (`registry.model_name`)."""

    name: str

    def upload(self, run_dir: Path, aliases: Sequence[str] = (),
               labels: Mapping[str, str] | None = None) -> ModelVersion: ...

    def resolve(self, ref: str) -> ModelVersion: ...

    def versions(self) -> list[ModelVersion]: ...

    def promote(self, version_id: str, alias: str) -> str | None: ...

    def rollback(self, alias: str = "champion") -> str: ...

    def fetch(self, ref: str) -> LocalModel: ...


class Endpoint(Protocol):
    """The configured endpoint (`serve.endpoint` locally, `vertex.endpoint_name` on Vertex)."""

    def deploy(self, ref: str, canary_percentage: int | None = None) -> Deployment: ...

    def undeploy(self) -> Outcome: ...

    def cleanup(self) -> Outcome: ...

    def predict(self, instances: list[dict[str, Any]]) -> list[Any]: ...

    def serving(self) -> bool:
        """True when the endpoint exists and serves a model."""
        ...


class Monitoring(Protocol):
    """Skew/drift monitoring of the endpoint and the traffic it logged."""

    def setup(self) -> Outcome: ...

    def status(self) -> Outcome: ...

    def delete(self) -> Outcome: ...

    def setup_alerts(self) -> Outcome: ...

    def logged_requests(self, since: dt.datetime | None,
                        until: dt.datetime | None = None) -> Iterator[pd.DataFrame]: ...


class Backend(Protocol):
    """Everything cloud-facing, for one config."""

    @property
    def kind(self) -> str: ...

    @property
    def config(self) -> Config: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def endpoint(self) -> Endpoint: ...

    @property
    def monitoring(self) -> Monitoring: ...

    @property
    def dry_run(self) -> bool:
        """True when calls are recorded in `plans` instead of made."""
        ...

    @property
    def plans(self) -> list[Mapping[str, Any]]:
        """The API calls made (or, on a dry run, planned), as plan dicts, in order."""
        ...

    def checks(self) -> list[Any]:
        """`churn doctor`'s checks of what this backend needs (pipeline.tools.doctor.CheckResult)."""
        ...
