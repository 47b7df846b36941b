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
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.config import Config

if TYPE_CHECKING:  # pandas costs every command ~0.5 s to import; only the log readers need it
    import pandas as pd


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


@dataclass(frozen=True)
class Job:
    """A job on Google's engines (a Vertex custom, batch prediction or pipeline job)."""

    name: str  # the resource name, projects/.../customJobs/ID
    kind: str  # "custom" | "batch_prediction" | "pipeline"
    display_name: str = ""
    state: str = ""
    created_at: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    output: str = ""  # where the job writes its results (gs:// prefix or bq:// dataset)
    error: str = ""  # one line saying why it failed, when it did
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def done(self) -> bool:
        return self.state.endswith(("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED",
                                    "PARTIALLY_SUCCEEDED"))


@dataclass(frozen=True)
class TrainingRequest:
    """`churn train`: the data (a local CSV, gs:// or bq://) and the run directory wanted."""

    data: str | None = None
    run_dir: Path | None = None
    streaming: bool | None = None  # None: decided by train.streaming_threshold_rows
    profile: bool = False  # also trace a few steps

    def flags(self) -> list[str]:
        """The `churn train` flags that say the same (what a training job's container runs)."""
        streaming = [] if self.streaming is None else ["--streaming" if self.streaming else "--no-streaming"]
        return streaming + (["--profile"] if self.profile else [])


@dataclass(frozen=True)
class TrainingResult:
    """A finished run directory (trained here) or the job that trains (trained there); neither
    for a worker of a multi-worker training (its chief writes the run)."""

    run_dir: Path | None = None
    job: Job | None = None


@dataclass(frozen=True)
class BatchPredictionRequest:
    """`churn predict`: score every row of `input` with `model_ref` into `output`."""

    input: str
    output: str
    model_ref: str
    chunk_rows: int = 50_000
    engine: str = "auto"
    overwrite: bool = False


@dataclass(frozen=True)
class BatchPredictionResult:
    """Where the predictions are (or will be, when a job writes them)."""

    output: str
    model: str
    rows: int | None = None
    job: Job | None = None


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


class Jobs(Protocol):
    """Training and batch prediction, here (local) or as jobs on Google's engines (vertex),
    and the jobs this project started."""

    def train(self, request: TrainingRequest) -> TrainingResult: ...

    def batch_predict(self, request: BatchPredictionRequest) -> BatchPredictionResult: ...

    def list_jobs(self) -> list[Job]:
        """The jobs carrying this project's labels, newest first."""
        ...

    def show(self, name: str) -> Job:
        """One job by id or resource name; a failed one says why in `error`."""
        ...

    def wait(self, name: str, timeout_s: float) -> Job:
        """The job once it has finished (or `timeout_s` has passed)."""
        ...

    def cancel(self, name: str) -> Outcome: ...


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
    def jobs(self) -> Jobs: ...

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
