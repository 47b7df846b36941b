"""RunDir owns the run directory's layout; a missing or broken file is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core import rundir
from pipeline.core.rundir import RunDir
from pipeline.errors import RunDirError
from tests.fakes.fixtures import make_run_dir


def test_open_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="run directory not found"):
        RunDir.open(tmp_path / "nope")
    run = make_run_dir(tmp_path)
    (run / "intervals.json").unlink()
    with pytest.raises(RunDirError, match=r"missing intervals\.json"):
        RunDir.open(run)


def test_every_required_file_is_a_property(tmp_path: Path) -> None:
    run = RunDir.open(make_run_dir(tmp_path))
    paths = {run.config_file, run.metrics_file, run.model_dir, run.intervals_file, run.baseline_stats_file}
    assert {p.name for p in paths} == set(rundir.REQUIRED)
    assert set(rundir.SMALL_FILES) <= set(rundir.SHIPPED)


def test_typed_readers(tmp_path: Path) -> None:
    run = RunDir.open(make_run_dir(tmp_path))
    assert run.threshold() == pytest.approx(0.42)
    assert run.metrics().keras["roc_auc"] == pytest.approx(0.8431)
    assert run.intervals()["confidence"] == 0.9
    assert run.config().backend == "local"
    assert run.history() == {}


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "expected a JSON object"),
    ("{not json", "corrupt JSON"),
    (json.dumps({"test": {"keras": {"roc_auc": 0.8}}}), "missing field 'threshold'"),
    (json.dumps({"test": {}, "threshold": 0.5, "rows": 3}), "no 'keras' metrics"),
    (json.dumps({"test": {"keras": {}}, "threshold": "high", "rows": 3}), "'threshold' should be"),
])
def test_a_broken_metrics_file_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    run = RunDir.open(make_run_dir(tmp_path))
    run.metrics_file.write_text(content)
    with pytest.raises(RunDirError, match=message) as caught:
        run.metrics()
    assert str(run.metrics_file) in str(caught.value) or "metrics.json" in str(caught.value)
    assert "\n" not in str(caught.value)
