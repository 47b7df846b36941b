"""The champion/challenger gate: promote only a clearly better challenger."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import RetrainConfig

LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


def gate(champion: Mapping[str, float], challenger: Mapping[str, float], rules: RetrainConfig) -> tuple[bool, str]:
    """Promote only if ROC-AUC improves by the margin and no guarded metric regresses."""
    gain = challenger["roc_auc"] - champion["roc_auc"]
    if gain < rules.min_auc_gain:
        return False, f"ROC-AUC gain {gain:+.4f} is below the required {rules.min_auc_gain:+.4f}"
    for metric in rules.guarded_metrics:
        worse = (challenger[metric] - champion[metric]) if metric in LOWER_IS_BETTER \
            else (champion[metric] - challenger[metric])
        if worse > rules.tolerance:
            return False, f"{metric} regresses by {worse:.4f} (tolerance {rules.tolerance:.4f})"
    return True, f"ROC-AUC gain {gain:+.4f} meets the margin and no guarded metric regresses"
