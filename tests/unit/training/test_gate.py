"""The champion/challenger gate on plain metric dictionaries."""

from __future__ import annotations

import pytest

from pipeline.config import RetrainConfig
from pipeline.training.gate import gate

CHAMPION = {"roc_auc": 0.80, "pr_auc": 0.60, "log_loss": 0.45, "brier": 0.14}


@pytest.mark.parametrize("challenger, rules, promoted, why", [
    ({**CHAMPION, "roc_auc": 0.82}, RetrainConfig(), True, "meets the margin"),
    ({**CHAMPION, "roc_auc": 0.805}, RetrainConfig(min_auc_gain=0.01), False, "below the required"),
    ({**CHAMPION, "roc_auc": 0.85, "log_loss": 0.47}, RetrainConfig(tolerance=0.01), False, "log_loss regresses"),
    ({**CHAMPION, "roc_auc": 0.85, "pr_auc": 0.585}, RetrainConfig(tolerance=0.01), False, "pr_auc regresses"),
    ({**CHAMPION, "roc_auc": 0.85, "pr_auc": 0.595}, RetrainConfig(tolerance=0.01), True, "meets"),
    (dict(CHAMPION), RetrainConfig(), True, "gain +0.0000"),
])
def test_gate(challenger: dict, rules: RetrainConfig, promoted: bool, why: str) -> None:
    decided, reason = gate(CHAMPION, challenger, rules)
    assert decided is promoted and why in reason
