"""Records round-trip through their JSON files exactly."""

from __future__ import annotations

import pytest

from pipeline.core.records import Metrics, RecordError, RetrainDecision, RunContext
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
