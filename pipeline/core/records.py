"""The records steps hand each other and write as JSON: the run context, metrics.json,
drift.json and the retrain decision. Each has one to_dict/from_dict pair, used for its file;
a file of the wrong shape is one RecordError naming the file and the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.errors import RunDirError


class RecordError(RunDirError):
    """A JSON record that does not have the shape its reader needs."""


def _field(document: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(document, Mapping) or name not in document:
        raise RecordError(f"{where}: missing field '{name}'")
    value = document[name]
    is_bool_for_number = isinstance(value, bool) and kind is not bool  # bool is an int subclass
    if not isinstance(value, kind) or is_bool_for_number:
        raise RecordError(f"{where}: field '{name}' should be {getattr(kind, '__name__', kind)}, "
                          f"got {type(value).__name__}")
    return value


def _float_table(table: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(table, Mapping):
        raise RecordError(f"{where}: expected an object of models")
    return {str(model): {str(k): float(v) for k, v in _field(table, model, Mapping, where).items()}
            for model in table}


@dataclass(frozen=True)
class Metrics:
    """metrics.json: test.<model>.<metric>, the Keras decision threshold, rows."""

    test: Mapping[str, Mapping[str, float]]
    threshold: float
    rows: int
    validation: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    threshold_strategy: str = ""
    split_rows: Mapping[str, int] = field(default_factory=dict)
    interval_coverage: Mapping[str, float] = field(default_factory=dict)

    @property
    def keras(self) -> Mapping[str, float]:
        return self.test["keras"]

    def to_dict(self) -> dict[str, Any]:
        return {"test": {m: dict(v) for m, v in self.test.items()},
                "validation": {m: dict(v) for m, v in self.validation.items()},
                "threshold": self.threshold, "thresholds": dict(self.thresholds),
                "threshold_strategy": self.threshold_strategy, "rows": self.rows,
                "split_rows": dict(self.split_rows), "interval_coverage": dict(self.interval_coverage)}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str = "metrics.json") -> Metrics:
        test = _float_table(_field(document, "test", Mapping, where), f"{where}: test")
        if "keras" not in test:
            raise RecordError(f"{where}: test has no 'keras' metrics")
        return cls(test=test, threshold=float(_field(document, "threshold", (int, float), where)),
                   rows=int(_field(document, "rows", int, where)),
                   validation=_float_table(document.get("validation", {}), f"{where}: validation"),
                   thresholds={k: float(v) for k, v in document.get("thresholds", {}).items()},
                   threshold_strategy=str(document.get("threshold_strategy", "")),
                   split_rows={k: int(v) for k, v in document.get("split_rows", {}).items()},
                   interval_coverage={k: float(v) for k, v in document.get("interval_coverage", {}).items()})


@dataclass(frozen=True)
class RunContext:
    """What the report and the model card say about a run besides its metrics."""

    run_id: str
    created_at: str
    config: Mapping[str, Any]
    fingerprint: Mapping[str, Any]
    interval_confidence: float
    history: Mapping[str, list[float]] = field(default_factory=dict)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str = "run context") -> RunContext:
        return cls(run_id=str(_field(document, "run_id", str, where)),
                   created_at=str(_field(document, "created_at", str, where)),
                   config=dict(_field(document, "config", Mapping, where)),
                   fingerprint=dict(_field(document, "fingerprint", Mapping, where)),
                   interval_confidence=float(_field(document, "interval_confidence", (int, float), where)),
                   history=dict(document.get("history", {})), rows=int(document.get("rows", 0)))

    def with_history(self, history: Mapping[str, list[float]]) -> RunContext:
        return RunContext(**{**asdict(self), "history": dict(history)})


@dataclass(frozen=True)
class RetrainDecision:
    """decision.json: what the gate decided about a challenger, and why."""

    promoted: bool
    reason: str
    champion_version: str
    challenger_version: str
    challenger_run: str
    holdout_rows: int
    holdout_churn_rate: float
    metrics: Mapping[str, Mapping[str, float]]
    rules: Mapping[str, Any]
    champion_now: str
    decided_at: str = ""
    behaviour: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str = "decision.json") -> RetrainDecision:
        return cls(promoted=bool(_field(document, "promoted", bool, where)),
                   reason=str(_field(document, "reason", str, where)),
                   champion_version=str(_field(document, "champion_version", (str, int), where)),
                   challenger_version=str(_field(document, "challenger_version", (str, int), where)),
                   challenger_run=str(_field(document, "challenger_run", str, where)),
                   holdout_rows=int(_field(document, "holdout_rows", int, where)),
                   holdout_churn_rate=float(_field(document, "holdout_churn_rate", (int, float), where)),
                   metrics=_float_table(_field(document, "metrics", Mapping, where), f"{where}: metrics"),
                   rules=dict(_field(document, "rules", Mapping, where)),
                   champion_now=str(_field(document, "champion_now", (str, int), where)),
                   decided_at=str(document.get("decided_at", "")),
                   behaviour=dict(document.get("behaviour", {})))


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of drift.json: the contract fields, and the counts that came with them."""

    statistic: str
    value: float | None
    threshold: float
    drifted: bool
    counts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "value": self.value, "threshold": self.threshold,
                "drifted": self.drifted, **self.counts}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str) -> FeatureDrift:
        value = document.get("value") if isinstance(document, Mapping) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RecordError(f"{where}: field 'value' should be a number or null, got {type(value).__name__}")
        return cls(statistic=str(_field(document, "statistic", str, where)), value=value,
                   threshold=float(_field(document, "threshold", (int, float), where)),
                   drifted=bool(_field(document, "drifted", bool, where)),
                   counts={k: v for k, v in document.items()
                           if k not in ("statistic", "value", "threshold", "drifted")})


@dataclass(frozen=True)
class DriftReport:
    """drift.json: features.<name>.{statistic, value, threshold, drifted}, rows, status, what
    the data was compared with, and the optional sections (score, window drift, performance)."""

    features: Mapping[str, FeatureDrift]
    rows: int
    status: str
    drifted_features: tuple[str, ...]
    model: str | None = None
    model_version: str | None = None
    reference: str | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)  # generated_at, source, score, ...

    def to_dict(self) -> dict[str, Any]:
        identity = {"model": self.model, "model_version": self.model_version}
        if self.reference is not None:
            identity["reference"] = self.reference
        return {**self.sections, **identity, "features": {n: f.to_dict() for n, f in self.features.items()},
                "rows": self.rows, "status": self.status, "drifted_features": list(self.drifted_features)}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str = "drift.json") -> DriftReport:
        features = _field(document, "features", Mapping, where)
        own = {"features", "rows", "status", "drifted_features", "model", "model_version", "reference"}
        return cls(features={str(n): FeatureDrift.from_dict(f, f"{where}: features.{n}") for n, f in features.items()},
                   rows=int(_field(document, "rows", int, where)), status=str(_field(document, "status", str, where)),
                   drifted_features=tuple(_field(document, "drifted_features", list, where)),
                   model=document.get("model"), model_version=document.get("model_version"),
                   reference=document.get("reference"),
                   sections={k: v for k, v in document.items() if k not in own})
