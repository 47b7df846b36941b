"""The --profile summary: totals, shares and the line printed (the trace itself: integration test)."""

from __future__ import annotations

from pathlib import Path

from pipeline.training.profiling import describe, summary


def test_input_bound_steps() -> None:
    found = summary([0.03, 0.01, 0.02], [0.01, 0.01, 0.01], Path("tensorboard/plugins/profile/t/h.xplane.pb"))
    assert found["steps"] == 3 and found["input_s"] == 0.06 and found["compute_s"] == 0.03
    assert found["input_share"] == round(0.06 / 0.09, 4)
    assert found["median_input_ms"] == 20.0 and found["median_compute_ms"] == 10.0
    line = describe(found)
    assert "input 67%" in line and "compute 33%" in line and "input-bound" in line and "h.xplane.pb" in line


def test_no_steps_no_trace() -> None:
    found = summary([], [], None)
    assert found["input_share"] == 0.0 and found["trace"] is None
    assert "compute-bound" in describe(found) and "no trace written" in describe(found)
