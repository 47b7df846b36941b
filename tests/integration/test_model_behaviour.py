"""The trained model's behaviour (directional, invariance, minimum functionality), through the
one offline scorer: the same checks the champion/challenger gate runs on every challenger."""

from __future__ import annotations

from pathlib import Path

from pipeline.training.behaviour import behaviour_checks
from pipeline.training.scoring import offline_scorer


def test_the_trained_model_behaves(trained_run: Path) -> None:
    checks = behaviour_checks(offline_scorer(trained_run / "model"))
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, failed
