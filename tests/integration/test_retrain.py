"""Retrain: challenger vs champion on the same recent holdout, decision record either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.backends import backend_for
from pipeline.core.records import RetrainDecision
from pipeline.errors import DataError, ModelRefError
from pipeline.registry.local_registry import LocalRegistry
from pipeline.tools import synth
from pipeline.tools.simulate import drifted_customers
from pipeline.training.retrain import retrain


@pytest.fixture()
def registry_config(small_config, small_csv: Path, trained_run: Path, tmp_path: Path):
    config = small_config.model_copy(deep=True)
    config.paths.artifacts = tmp_path / "artifacts"
    config.data.path = small_csv
    LocalRegistry.from_config(config).upload(trained_run)
    return config


@pytest.fixture()
def new_labels(tmp_path: Path) -> Path:
    path = tmp_path / "new.csv"
    synth.write_customers(drifted_customers(600, ["contract"], seed=11), path)
    return path


@pytest.mark.parametrize("margin, promoted", [(-1.0, True), (1.0, False)])
def test_gate_decides_and_records(registry_config, new_labels: Path, margin: float, promoted: bool) -> None:
    registry_config.retrain.min_auc_gain = margin
    decision, path = retrain(registry_config, backend_for(registry_config), new_labels)
    record = json.loads(path.read_text())
    assert RetrainDecision.from_dict(record) == decision
    registry = LocalRegistry.from_config(registry_config)
    assert record["promoted"] is promoted is decision.promoted
    assert record["challenger_version"] == "2" and record["champion_version"] == "1"
    assert record["holdout_rows"] == 180
    assert set(record["metrics"]["champion"]) == set(record["metrics"]["challenger"]) >= {"roc_auc", "log_loss"}
    assert registry.aliases()["champion"] == (2 if promoted else 1)
    assert registry.aliases()["challenger"] == 2
    assert record["reason"]


def test_retrain_needs_a_champion(small_config, small_csv: Path, tmp_path: Path) -> None:
    config = small_config.model_copy(deep=True)
    config.paths.artifacts = tmp_path / "empty"
    config.data.path = small_csv
    with pytest.raises(ModelRefError, match="champion"):
        retrain(config, backend_for(config), None)


def test_bad_new_data_trains_nothing(registry_config, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customerID,Churn\n1,Yes\n")
    with pytest.raises(DataError):
        retrain(registry_config, backend_for(registry_config), bad)
    assert LocalRegistry.from_config(registry_config).versions() == [1]
    assert not list((registry_config.paths.artifacts / "retrain").glob("*"))
