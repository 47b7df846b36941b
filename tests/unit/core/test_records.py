"""Records round-trip through their JSON files exactly."""

from __future__ import annotations

import pytest

from pipeline.core.records import DriftReport, Metrics, RecordError, RetrainDecision, RunContext
from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES


def metrics_document() -> dict:
    return {"test": {m: dict.fromkeys(METRIC_NAMES, 0.25) for m in MODEL_NAMES},
            "validation": {m: {"roc_auc": 0.8} for m in MODEL_NAMES}, "threshold": 0.3,
            "thresholds": dict.fromkeys(MODEL_NAMES, 0.3), "threshold_strategy": "max_f1", "rows": 100,
            "split_rows": {"test": 20, "validation": 16},
            "interval_coverage": {"bin_coverage": 0.9, "row_coverage": 0.91}}


def test_metrics_round_trip() -> None:
    document = metrics_document()
    metrics = Metrics.from_dict(document)
    assert metrics.to_dict() == document
    assert metrics.keras["f1"] == 0.25 and metrics.threshold == 0.3


def test_metrics_refuse_a_boolean_threshold() -> None:
    with pytest.raises(RecordError, match="threshold"):
        Metrics.from_dict({**metrics_document(), "threshold": True})


def test_decision_round_trip_and_shape_errors() -> None:
    decision = RetrainDecision(promoted=True, reason="better", champion_version="1", challenger_version="2",
                               challenger_run="/runs/x", holdout_rows=30, holdout_churn_rate=0.25,
                               metrics={"champion": {"roc_auc": 0.8}, "challenger": {"roc_auc": 0.9}},
                               rules={"min_auc_gain": 0.0}, champion_now="2", decided_at="20261201-120000",
                               behaviour={"passed": True, "checks": []})
    assert RetrainDecision.from_dict(decision.to_dict()) == decision
    broken = {**decision.to_dict(), "promoted": "yes"}
    with pytest.raises(RecordError, match="'promoted' should be bool"):
        RetrainDecision.from_dict(broken)


def test_run_context_round_trip() -> None:
    context = RunContext(run_id="r", created_at="now", config={"backend": "local"}, fingerprint={"rows": 3},
                         interval_confidence=0.9, history={"loss": [0.5, 0.4]}, rows=3)
    assert RunContext.from_dict(context.to_dict()) == context
    assert context.with_history({"loss": [0.1]}).history == {"loss": [0.1]}


def drift_document() -> dict:
    return {"generated_at": "2026-12-01T12:00:00+00:00", "model": "churn@champion", "model_version": "3",
            "source": "prediction log since ...", "mode": "skew", "rows": 120, "status": "ok",
            "drifted_features": ["Contract"],
            "features": {"Contract": {"statistic": "l_infinity", "value": 0.41, "threshold": 0.3, "drifted": True,
                                      "unseen_categories": {"Weekly": 2}},
                         "tenure": {"statistic": "jensen_shannon", "value": None, "threshold": 0.3,
                                    "drifted": False, "missing": 120}},
            "score": {"statistic": "jensen_shannon", "value": 0.05}}


def test_drift_report_round_trip() -> None:
    document = drift_document()
    report = DriftReport.from_dict(document)
    assert report.to_dict() == document
    assert report.features["Contract"].drifted and report.features["tenure"].value is None
    assert report.drifted_features == ("Contract",) and report.sections["score"]["value"] == 0.05
    with_reference = {**document, "model": None, "model_version": None, "reference": "train.csv"}
    assert DriftReport.from_dict(with_reference).to_dict() == with_reference


@pytest.mark.parametrize("breaks, message", [
    (lambda d: d["features"]["Contract"].pop("threshold"), r"features\.Contract: missing field 'threshold'"),
    (lambda d: d["features"]["tenure"].update(value="high"), "'value' should be a number or null"),
    (lambda d: d["features"]["Contract"].update(drifted="yes"), "'drifted' should be bool"),
    (lambda d: d.pop("features"), "missing field 'features'"),
])
def test_drift_report_contract_is_checked(breaks, message: str) -> None:
    document = drift_document()
    breaks(document)
    with pytest.raises(RecordError, match=message):
        DriftReport.from_dict(document)
