"""Behavioural checks on hand-made scorers: each check passes a sensible model and fails one
that has the flaw it looks for (no trained model needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.training.behaviour import behaviour_checks, behaviour_summary, probe_customers


@pytest.fixture(scope="module")
def probe() -> pd.DataFrame:
    return probe_customers(rows=120)


def sensible(frame: pd.DataFrame) -> np.ndarray:
    risk = (frame["Contract"] == "Month-to-month") * 1.5 - frame["tenure"] / 40
    risk += (frame["InternetService"] == "Fiber optic") * 0.7
    return 1 / (1 + np.exp(-risk.to_numpy(float)))


def test_a_sensible_model_passes_every_check(probe: pd.DataFrame) -> None:
    summary = behaviour_summary(behaviour_checks(sensible, probe))
    assert summary["passed"], summary
    assert [c["passed"] for c in summary["checks"]] == [True, True, True]


def test_contract_ignored_fails_the_directional_check(probe: pd.DataFrame) -> None:
    checks = behaviour_checks(lambda f: 1 / (1 + np.exp(f["tenure"].to_numpy(float) / 40)), probe)
    assert not checks[0].passed and checks[0].value == 0.0


def test_gender_dependence_fails_the_invariance_check(probe: pd.DataFrame) -> None:
    checks = behaviour_checks(lambda f: sensible(f) * np.where(f["gender"] == "Male", 1.0, 0.6), probe)
    assert not checks[1].passed and checks[1].value > 0.05
    assert checks[0].passed


def test_an_inverted_model_fails_minimum_functionality(probe: pd.DataFrame) -> None:
    checks = behaviour_checks(lambda f: 1 - sensible(f), probe)
    assert not checks[2].passed and checks[2].value < 0


def test_the_probe_is_the_same_every_time() -> None:
    pd.testing.assert_frame_equal(probe_customers(rows=50), probe_customers(rows=50))
