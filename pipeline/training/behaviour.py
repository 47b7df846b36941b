"""Behavioural checks of a trained model (in the spirit of Made-With-ML's tests/model and
Ribeiro et al.'s CheckList): what any churn model worth serving must do, whatever its metrics.

- directional: month-to-month customers score above otherwise identical two-year ones;
- invariance: swapping gender barely moves a score;
- minimum functionality: a textbook high-risk customer scores above a textbook loyal one.

They run against any run directory or registered version (through the one offline scorer),
from the tests, and from the champion/challenger gate: a challenger that fails one is not
promoted, however good its ROC-AUC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

Score = Callable[[pd.DataFrame], np.ndarray]

PROBE_ROWS = 400
PROBE_SEED = 20261201
DIRECTIONAL_SHARE = 0.8  # of probe customers whose score must move the expected way
INVARIANCE_MAX_SHIFT = 0.05  # largest mean absolute change of a score under a gender swap

HIGH_RISK = {"Contract": "Month-to-month", "tenure": 1.0, "InternetService": "Fiber optic",
             "PaymentMethod": "Electronic check", "PaperlessBilling": "Yes", "OnlineSecurity": "No",
             "TechSupport": "No", "MonthlyCharges": 95.0, "TotalCharges": 95.0}
LOYAL = {"Contract": "Two year", "tenure": 70.0, "InternetService": "DSL",
         "PaymentMethod": "Bank transfer (automatic)", "PaperlessBilling": "No", "OnlineSecurity": "Yes",
         "TechSupport": "Yes", "MonthlyCharges": 55.0, "TotalCharges": 3850.0}


@dataclass(frozen=True)
class BehaviourCheck:
    name: str
    passed: bool
    value: float
    limit: float
    detail: str


def probe_customers(rows: int = PROBE_ROWS, seed: int = PROBE_SEED) -> pd.DataFrame:
    """Seeded, validated customers to perturb (the same every time)."""
    from pipeline.tools.synth import generate_customers
    from pipeline.training.data import validate_frame

    return validate_frame(generate_customers(rows, seed).astype(str), "behaviour probe customers")


def _with(frame: pd.DataFrame, values: Mapping[str, Any]) -> pd.DataFrame:
    changed = frame.copy()
    for column, value in values.items():
        changed[column] = value
    return changed


def directional_contract(score: Score, probe: pd.DataFrame) -> BehaviourCheck:
    monthly = score(_with(probe, {"Contract": "Month-to-month"}))
    two_year = score(_with(probe, {"Contract": "Two year"}))
    share = float(np.mean(monthly > two_year))
    return BehaviourCheck("directional: Month-to-month above Two year", share >= DIRECTIONAL_SHARE, share,
                          DIRECTIONAL_SHARE, f"{share:.0%} of {len(probe)} customers score higher on "
                          f"month-to-month (mean {monthly.mean():.3f} vs {two_year.mean():.3f})")


def invariance_gender(score: Score, probe: pd.DataFrame) -> BehaviourCheck:
    swapped = probe["gender"].map({"Female": "Male", "Male": "Female"})
    shift = float(np.mean(np.abs(score(probe) - score(_with(probe, {"gender": swapped})))))
    return BehaviourCheck("invariance: gender swap", shift <= INVARIANCE_MAX_SHIFT, shift, INVARIANCE_MAX_SHIFT,
                          f"mean absolute score change {shift:.4f} when gender is swapped")


def minimum_high_vs_loyal(score: Score, probe: pd.DataFrame) -> BehaviourCheck:
    high = score(_with(probe.head(1), HIGH_RISK))[0]
    loyal = score(_with(probe.head(1), LOYAL))[0]
    return BehaviourCheck("minimum functionality: high-risk above loyal", bool(high > loyal),
                          float(high - loyal), 0.0, f"high-risk {high:.3f} vs loyal {loyal:.3f}")


CHECKS = (directional_contract, invariance_gender, minimum_high_vs_loyal)


def behaviour_checks(score: Score, probe: pd.DataFrame | None = None) -> list[BehaviourCheck]:
    """Every check, on the probe customers."""
    probe = probe_customers() if probe is None else probe
    return [check(score, probe) for check in CHECKS]


def behaviour_summary(checks: list[BehaviourCheck]) -> dict[str, Any]:
    """JSON-ready: passed overall, and each check."""
    return {"passed": all(c.passed for c in checks), "checks": [asdict(c) for c in checks]}
