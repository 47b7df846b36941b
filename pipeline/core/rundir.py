"""The run directory: the one place that spells its file names.

    artifacts/runs/<run_id>/
      config.yaml  data_fingerprint.json  metrics.json  report.html  plots/*.png
      model/ (SavedModel)  model.keras  baselines/*.joblib  baseline_stats.json
      model_card.json  intervals.json  numpy_engine.json  history.json  tensorboard/
      profile.json, tensorboard/plugins/profile/<time>/*.xplane.pb (with --profile)

Training writes one under a temporary name (core.atomic.staged_directory) and renames it when
complete; the registry copies the SHIPPED part of it into every version, so a registered
version is a RunDir too. Readers go through the typed accessors here, never through strings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core import atomic
from pipeline.errors import RunDirError

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.core.records import Metrics
    from pipeline.monitoring.stats import BaselineStats

CONFIG = "config.yaml"
FINGERPRINT = "data_fingerprint.json"
METRICS = "metrics.json"
REPORT = "report.html"
PLOTS = "plots"
MODEL = "model"
KERAS_MODEL = "model.keras"
BASELINES = "baselines"
BASELINE_STATS = "baseline_stats.json"
MODEL_CARD = "model_card.json"
INTERVALS = "intervals.json"
NUMPY_ENGINE = "numpy_engine.json"  # the server's TF-free engine, verified at export (serving.engine_file)
HISTORY = "history.json"
TENSORBOARD = "tensorboard"
PROFILE = "profile.json"  # `churn train --profile`: where the time of a few steps went
PROFILE_TRACES = "plugins/profile"  # under tensorboard/: the profiler's *.xplane.pb (TensorBoard's Profile tab)

# What serving, monitoring and gating need: a run or a registered version without one of
# these cannot be served or monitored.
REQUIRED = (CONFIG, METRICS, MODEL, INTERVALS, BASELINE_STATS)
# What a registered version keeps of its run (the rest is re-creatable or for training only).
SHIPPED = (MODEL, METRICS, INTERVALS, BASELINE_STATS, MODEL_CARD, FINGERPRINT, CONFIG, KERAS_MODEL,
           NUMPY_ENGINE)
# The small files copied next to a version's SavedModel on Google Cloud Storage.
SMALL_FILES = (METRICS, INTERVALS, BASELINE_STATS, MODEL_CARD, FINGERPRINT, CONFIG)


@dataclass(frozen=True)
class RunDir:
    """A run directory (or a registered version's copy of one)."""

    path: Path

    @classmethod
    def open(cls, path: Path | str) -> RunDir:
        """A complete run directory, or a RunDirError that says what is missing."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise RunDirError(f"{run.path}: run directory not found (train one with `churn train`)")
        missing = [name for name in REQUIRED if not (run.path / name).exists()]
        if missing:
            raise RunDirError(f"{run.path}: not a complete run directory (missing {', '.join(missing)}; "
                              "train a new one with `churn train`)")
        return run

    @property
    def run_id(self) -> str:
        return self.path.resolve().name

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def fingerprint_file(self) -> Path:
        return self.path / FINGERPRINT

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def report_file(self) -> Path:
        return self.path / REPORT

    @property
    def plots_dir(self) -> Path:
        return self.path / PLOTS

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL

    @property
    def keras_model_file(self) -> Path:
        return self.path / KERAS_MODEL

    @property
    def baselines_dir(self) -> Path:
        return self.path / BASELINES

    @property
    def baseline_stats_file(self) -> Path:
        return self.path / BASELINE_STATS

    @property
    def model_card_file(self) -> Path:
        return self.path / MODEL_CARD

    @property
    def intervals_file(self) -> Path:
        return self.path / INTERVALS

    @property
    def numpy_engine_file(self) -> Path:
        return self.path / NUMPY_ENGINE

    @property
    def history_file(self) -> Path:
        return self.path / HISTORY

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def profile_file(self) -> Path:
        return self.path / PROFILE

    @property
    def profile_traces_dir(self) -> Path:
        return self.tensorboard_dir / PROFILE_TRACES

    def metrics(self) -> Metrics:
        from pipeline.core.records import Metrics

        return Metrics.from_dict(self._json(self.metrics_file))

    def threshold(self) -> float:
        return self.metrics().threshold

    def intervals(self) -> dict[str, Any]:
        return self._json(self.intervals_file)

    def history(self) -> dict[str, Any]:
        return self._json(self.history_file) if self.history_file.is_file() else {}

    def fingerprint(self) -> dict[str, Any]:
        return self._json(self.fingerprint_file)

    def baseline(self) -> BaselineStats:
        from pipeline.monitoring.stats import BaselineStats

        return BaselineStats.load(self.baseline_stats_file)

    def config(self) -> Config:
        """The configuration the run was trained with."""
        import yaml

        from pipeline.config import Config
        from pipeline.errors import ConfigError

        try:
            return Config.model_validate(yaml.safe_load(self.config_file.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise ConfigError(f"{self.config_file}: unreadable run configuration "
                              f"({exc.__class__.__name__})") from None

    def _json(self, path: Path) -> dict[str, Any]:
        document = atomic.read_json(path)  # a missing or corrupt file is its RunDirError
        if not isinstance(document, dict):
            raise RunDirError(f"{path}: expected a JSON object; train a new run with `churn train`")
        return document


def new_run_id() -> str:
    """<UTC timestamp>-<random suffix>: the name of a new run directory, here or in a training
    job (names sort by time)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"
