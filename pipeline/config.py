"""Pydantic-validated configuration: YAML file, then environment, then `--set` overrides.

configs/local.yaml and configs/vertex.yaml pick the backend; nothing else changes.
Unknown keys are errors that name the key. Any value can be overridden:
  CLI:          --set train.epochs=3
  environment:  CHURN__TRAIN__EPOCHS=3   (double underscores separate levels)
Files and override values are read as YAML by a loader that refuses anchors, aliases, tags
and deep nesting (a few hundred bytes of nested aliases expand to gigabytes), so every bad
config is one ConfigError line naming the file or key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.core.inputs import read_text_file
from pipeline.core.strict_yaml import parse_yaml, yaml_problem
from pipeline.errors import ConfigError, clip, quote

DEFAULT_CONFIG = Path("configs/local.yaml")
ENV_PREFIX = "CHURN__"
CONFIG_ENV = "CHURN_CONFIG"
MAX_CONFIG_BYTES = 1 << 20
KEY_ECHO = 60  # characters of a key named in a message
REMOTE_SCHEMES = ("gs://", "bq://")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Where the training data lives and how its columns are named."""

    path: Path | str = Field(Path("data/sample/customer_churn.csv"), description=(
        "Training data: a CSV or Parquet file, a folder or a glob of shards, local or gs://BUCKET/PATH; "
        "or bq://PROJECT.DATASET.TABLE, or bq://PROJECT?query=SQL."))
    label_column: str = Field("Churn", description="Label column, matched case-insensitively.")
    id_column: str = Field("customerID", description="Unique customer id column.")

    @field_validator("path", mode="before")
    @classmethod
    def _local_paths_stay_paths(cls, value: Any) -> Any:
        return data_spec(value) if isinstance(value, str) else value


def data_spec(text: str | Path) -> Path | str:
    """A --data / data.path value: gs:// and bq:// stay text (a Path would fold their "//");
    everything else is a local Path."""
    return text if isinstance(text, str) and text.startswith(REMOTE_SCHEMES) else Path(text)


class SplitConfig(Section):
    """The article's train/test split."""

    test_size: float = Field(0.2, gt=0, lt=1, description="Fraction held out for testing.")
    random_state: int = Field(42, description="Seed of train_test_split.")
    stratify: bool = Field(True, description="Stratify the split on the label.")


class TrainConfig(Section):
    """The article's Keras network and its training loop."""

    epochs: int = Field(10, ge=1, description="Training epochs.")
    batch_size: int = Field(32, ge=1, description="Mini-batch size.")
    validation_split: float = Field(0.2, gt=0, lt=1, description="Share of train kept for validation.")
    hidden_units: list[int] = Field([64, 32], min_length=1, description="Dense layer widths (relu).")
    learning_rate: float = Field(0.001, gt=0, description="Adam learning rate.")
    seed: int = Field(42, description="Seed for Keras, NumPy and the baselines.")
    tensorboard: bool = Field(True, description="Write TensorBoard logs into the run directory.")
    steps_per_execution: int = Field(
        32, ge=1, description="Mini-batches per compiled call (same results, less per-step overhead).")
    streaming_threshold_rows: int = Field(1_000_000, ge=0, description=(
        "Data with more rows than this (Parquet/BigQuery: exact; CSV: estimated from its size) trains by "
        "streaming in bounded memory; --streaming / --no-streaming decide instead."))
    shuffle_buffer_rows: int = Field(65_536, ge=1, description=(
        "Streaming: rows shuffled together (seeded, reshuffled each epoch); no shuffle of the whole set."))
    chunk_rows: int = Field(65_536, ge=1024, description="Streaming: rows read and validated at a time.")
    baseline_sample_rows: int = Field(50_000, ge=100, description=(
        "Streaming: the baselines fit on this many training rows, picked by a seeded hash of customerID."))
    validation_sample_rows: int = Field(200_000, ge=100, description=(
        "Streaming: calibration, thresholds and the interval table fit on at most this many validation "
        "rows, picked by a seeded hash of customerID."))
    profile_steps: int = Field(
        20, ge=1, description="Training steps `churn train --profile` traces and times (input vs compute).")
    cluster_timeout_s: float = Field(
        120.0, gt=0, description=("Multi-worker training (TF_CONFIG/CLUSTER_SPEC): how long every task may take "
                                  "to join, and the most one collective step or missed heartbeat may last."))
    cluster_finish_timeout_s: float = Field(
        3600.0, gt=0, description="Multi-worker training: how long workers wait for the chief to write the run.")


class EvaluateConfig(Section):
    """How the decision threshold and confidence intervals are chosen."""

    threshold_strategy: Literal["max_f1", "youden", "fixed"] = Field(
        "max_f1", description="How to pick the decision threshold on validation data."
    )
    fixed_threshold: float = Field(0.5, gt=0, lt=1, description="Threshold when strategy is fixed.")
    interval_confidence: float = Field(
        0.9, gt=0, lt=1, description="Confidence level of per-prediction intervals."
    )
    calibration_bins: int = Field(10, ge=2, description="Bins of the calibration curve.")


class PathsConfig(Section):
    """Where artifacts go."""

    artifacts: Path = Field(Path("artifacts"), description="Root of runs, registry and logs.")

    @property
    def runs(self) -> Path:
        return self.artifacts / "runs"

    @property
    def registry(self) -> Path:
        return self.artifacts / "registry"

    @property
    def monitoring(self) -> Path:
        return self.artifacts / "monitoring"

    @property
    def prediction_log(self) -> Path:
        return self.artifacts / "predictions.sqlite"


class RegistryConfig(Section):
    """The model registry (local directory, or Vertex Model Registry)."""

    model_name: str = Field("churn", pattern=r"^[a-z][a-z0-9_-]*$", description="Registered model name.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels set on every version.")


class ServeConfig(Section):
    """The local prediction server."""

    model: str = Field("churn@champion", description="Model served by default (REF).")
    endpoint: str = Field("churn-endpoint", description="Local endpoint name (the {endpoint} in predict URLs).")
    host: str = Field("127.0.0.1", description="Bind address; keep loopback unless behind auth.")
    port: int = Field(8080, ge=1, le=65535, description="Port.")
    max_instances: int = Field(1000, ge=1, description="Most instances accepted in one request.")
    max_body_bytes: int = Field(1_500_000, ge=1, description="Largest body accepted (Vertex: 1.5 MB).")
    auth_token_env: str = Field(
        "CHURN_API_TOKEN", description="Env var holding a bearer token; auth is on when it is set."
    )
    batch_window_ms: float = Field(
        0.0, ge=0, description="How long concurrent requests wait to share one model call."
    )
    limit_concurrency: int = Field(
        512, ge=1, description="Most open connections; more are answered 503 and closed at once."
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="Idle connection (before and between requests) closed after this."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="Request line and headers must arrive within this (else 408, closed)."
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="A predict body must arrive within this after its headers (else 408)."
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Largest request line plus headers (else 431, closed)."
    )
    log_busy_timeout_ms: float = Field(
        500.0, ge=0, description="Wait for a prediction log locked by another process, then 503."
    )


class MonitorConfig(Section):
    """Skew and drift detection (Vertex Model Monitoring statistics)."""

    default_threshold: float = Field(0.3, gt=0, le=1, description="Threshold for every feature.")
    thresholds: dict[str, float] = Field(default_factory=dict, description="Per-feature thresholds.")
    numeric_bins: int = Field(10, ge=2, description=(
        "Buckets of each data set's equal-width histogram of a numeric feature (10: TFDV's and Vertex's)."))
    min_rows: int = Field(30, ge=1, description="Fewer rows than this is 'not enough data'.")
    window: str = Field("1d", description="Window length for --from-log (e.g. 1h, 1d, 7d).")
    webhook_url: str | None = Field(None, description="Slack-compatible webhook for alerts.")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail alerts.")
    smtp_port: int = Field(25, description="SMTP port.")
    alert_emails: list[str] = Field(default_factory=list, description="Alert recipients.")
    alert_sender: str = Field("churn-pipeline@localhost", description="From address of alerts.")


class RetrainConfig(Section):
    """Champion/challenger gate."""

    min_auc_gain: float = Field(0.0, description="Challenger ROC-AUC must beat champion by this.")
    guarded_metrics: list[str] = Field(
        ["pr_auc", "log_loss", "brier"], description="Metrics that must not regress."
    )
    tolerance: float = Field(0.01, ge=0, description="Allowed regression of a guarded metric.")
    canary_percentage: int = Field(0, ge=0, le=100, description="Traffic to a challenger first.")
    holdout_fraction: float = Field(0.3, gt=0, lt=1, description="Recent labelled rows kept as holdout.")
    rollout: bool = Field(True, description="Deploy a promoted challenger to the endpoint when one is serving.")


class VertexTrainingConfig(Section):
    """Vertex AI Training: the CustomJob `churn train --target vertex` submits."""

    machine_type: str = Field("n1-standard-4", description="Machine type of every training replica.")
    replica_count: int = Field(
        1, ge=1, description="Replicas: 1 chief, plus replica_count-1 workers (multi-worker training).")
    accelerator_type: str | None = Field(
        None, description="GPU type per replica, e.g. NVIDIA_TESLA_T4 (null: CPU only).")
    accelerator_count: int = Field(0, ge=0, description="GPUs per replica (with accelerator_type).")
    boot_disk_type: str = Field("pd-ssd", description="Boot disk type of each replica (pd-ssd or pd-standard).")
    boot_disk_size_gb: int = Field(100, ge=10, description="Boot disk size of each replica (GB).")
    max_hours: float = Field(
        4.0, gt=0, description="Vertex stops the job after this many hours (a runaway job's cost cap).")


class VertexBatchConfig(Section):
    """Vertex AI batch prediction: the BatchPredictionJob `churn predict --target vertex` submits."""

    machine_type: str = Field("n1-standard-4", description="Machine type of the batch prediction replicas.")
    starting_replica_count: int = Field(1, ge=1, description="Replicas the job starts with.")
    max_replica_count: int = Field(4, ge=1, description="Most replicas the job scales to.")
    excluded_fields: list[str] = Field(
        ["Churn"], description="Input fields not sent to the model (the label, when the input has one).")


class VertexConfig(Section):
    """Google Cloud Vertex AI backend."""

    project: str | None = Field(None, description="Google Cloud project id.")
    region: str = Field("us-central1", description="Vertex AI region.")
    bucket: str | None = Field(None, description="GCS bucket (without gs://) for artifacts.")
    serving_image: str = Field(
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
        description="Prebuilt TensorFlow serving container.",
    )
    image: str | None = Field(
        None, description=("Container image of this package for training jobs, pipelines and batch work "
                           "(default: REGION-docker.pkg.dev/PROJECT/churn/churn-pipeline:VERSION)."))
    image_repository: str = Field("churn", description="Artifact Registry repository `churn image push` uses.")
    build_api_endpoint: str | None = Field(
        None, description="Override the Cloud Build and Artifact Registry API host `churn image push` calls (tests).")
    endpoint_name: str = Field("churn-endpoint", description="Endpoint display name.")
    machine_type: str = Field("n1-standard-2", description="Serving machine type.")
    min_replicas: int = Field(1, ge=1, description="Minimum serving replicas.")
    max_replicas: int = Field(1, ge=1, description="Maximum serving replicas.")
    request_logging: bool = Field(True, description="Request-response logging to BigQuery.")
    logging_sampling_rate: float = Field(1.0, ge=0, le=1, description="Share of requests logged.")
    logging_bq_table: str | None = Field(None, description="bq://project.dataset.table for logs.")
    kms_key_name: str | None = Field(None, description="CMEK key passed to every resource.")
    service_account: str | None = Field(None, description="Service account for jobs/endpoints.")
    latency_alert_ms: float = Field(500.0, gt=0, description="Latency alert threshold (ms).")
    error_rate_alert: float = Field(0.05, gt=0, le=1, description="Error-rate alert threshold.")
    monitor_interval_hours: int = Field(1, ge=1, description="Model Monitoring interval (hours).")
    monitor_sampling_rate: float = Field(0.8, gt=0, le=1, description="Monitoring sampling rate.")
    api_endpoint: str | None = Field(None, description="Override the API host (tests, private).")
    monitoring_api_endpoint: str | None = Field(
        None, description="Override the Cloud Monitoring API (host:port, plain gRPC; tests).")
    bigquery_api_endpoint: str | None = Field(
        None, description="Override the BigQuery API host the request log is read from (tests).")
    logging_api_endpoint: str | None = Field(
        None, description="Override the Cloud Logging API host failed jobs' logs are read from (tests).")
    training: VertexTrainingConfig = VertexTrainingConfig()
    batch: VertexBatchConfig = VertexBatchConfig()


class Config(Section):
    """Whole pipeline configuration."""

    backend: Literal["local", "vertex"] = Field("local", description="Which backend runs cloud steps.")
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    paths: PathsConfig = PathsConfig()
    registry: RegistryConfig = RegistryConfig()
    serve: ServeConfig = ServeConfig()
    monitor: MonitorConfig = MonitorConfig()
    retrain: RetrainConfig = RetrainConfig()
    vertex: VertexConfig = VertexConfig()


def load_config(
    path: Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """Read YAML at `path` (or $CHURN_CONFIG, or configs/local.yaml when present), apply
    CHURN__SECTION__KEY environment values, then `section.key=value` overrides. `warn` hears
    one line when no config file is found and the built-in defaults are used."""
    environ = os.environ if environ is None else environ
    source = _config_path(path, environ)
    if source is None and warn is not None:
        warn(f"no config file found ({DEFAULT_CONFIG} is not in {Path.cwd()}): using the built-in "
             "defaults; pass --config FILE or set CHURN_CONFIG")
    raw = _read_yaml(source) if source is not None else {}
    origins: dict[str, str] = {}  # dotted key -> the override that set it, for messages
    for dotted, value, origin in _env_overrides(environ):
        origins[dotted] = origin
        _set_dotted(raw, dotted, value, origin)
    for item in overrides:
        dotted, value = _parse_override(item)
        origins[dotted] = f"--set {clip(dotted, KEY_ECHO)}"
        _set_dotted(raw, dotted, value, origins[dotted])
    return _validate(raw, str(source) if source else "configuration (no config file)", origins)


def _config_path(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_text_file(path, ConfigError, "YAML config file", MAX_CONFIG_BYTES, "pass --config PATH")
    try:
        loaded = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid configuration YAML ({yaml_problem(exc)})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def _parse_value(value: str, origin: str) -> Any:
    """An override value read as YAML (so 3, false, [128,64] and null are typed)."""
    if not value:
        return value
    try:
        return parse_yaml(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: value is not valid YAML ({yaml_problem(exc)}); "
                          "put text values in double quotes") from None


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, Any, str]]:
    """(dotted key, value, origin for messages) of each CHURN__SECTION__KEY variable."""
    found = []
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            origin = f"environment {clip(name, KEY_ECHO)}"
            found.append((dotted, _parse_value(value, origin), origin))
    return sorted(found, key=lambda item: item[0])


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--set {quote(item, KEY_ECHO)}: expected section.key=value, e.g. train.epochs=3")
    dotted, _, value = item.partition("=")
    dotted = dotted.strip()
    return dotted, _parse_value(value, f"--set {clip(dotted, KEY_ECHO)}")


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: '{part}' is a value, not a section")
        node = child
    if dotted in {"vertex.project", "vertex.bucket"} and value is not None:
        value = str(value)  # ids like 1234 must stay strings
    node[parts[-1]] = value


def _validate(raw: dict[str, Any], source: str, origins: Mapping[str, str]) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        dotted = ".".join(str(p) for p in first["loc"])
        source = origins.get(dotted, source)
        key = clip(dotted, KEY_ECHO)
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{source}: unknown key '{key}' (see the configuration reference in README.md)") from None
        message = clip(" ".join(first["msg"].lower().split()))
        raise ConfigError(f"{source}: '{key}' {message} (got {quote(first.get('input'))})") from None


def config_as_dict(config: Config) -> dict[str, Any]:
    """JSON/YAML-safe dict of the config (paths as strings)."""
    return config.model_dump(mode="json")
