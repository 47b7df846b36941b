"""The pipeline's step functions without kfp: what each one writes into its artifact folder,
and the steps that act only when the gate promoted and the run asks to deploy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Config, config_as_dict
from pipeline.core import atomic
from pipeline.errors import DataError, RunDirError
from pipeline.orchestration import steps
from pipeline.tools import synth
from tests.fakes.fixtures import make_run_dir


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.model_validate({"paths": {"artifacts": str(tmp_path / "artifacts")}})


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    synth.write_customers(synth.generate_customers(300, seed=5), path)
    return path


def test_step_config_applies_the_pipeline_parameters_and_keeps_a_copy(config: Config, tmp_path: Path) -> None:
    text = json.dumps(config_as_dict(config))
    settings = steps.step_config(text, tmp_path / "step", steps.pipeline_sets("churn-b", 0.01, 0.02, Path("d.csv")))
    assert (settings.registry.model_name, settings.retrain.min_auc_gain, settings.retrain.tolerance) == \
        ("churn-b", 0.01, 0.02)
    assert settings.data.path == Path("d.csv")
    assert (tmp_path / "step" / "config.yaml").read_text() == text


def test_data_uris_map_to_files_the_component_reads() -> None:
    assert steps.local_path("gs://bucket/datasets/churn/c.csv") == Path("/gcs/bucket/datasets/churn/c.csv")
    assert steps.local_path("data/sample/customer_churn.csv") == Path("data/sample/customer_churn.csv")
    with pytest.raises(DataError, match="bq://p.d.t"):
        steps.local_path("bq://p.d.t")


def test_validate_keeps_the_exact_bytes_it_checked(config: Config, csv: Path, tmp_path: Path) -> None:
    summary = steps.validate_data(config, str(csv), tmp_path / "dataset")
    assert (tmp_path / "dataset" / steps.DATASET).read_bytes() == csv.read_bytes()
    assert summary["rows"] == 300 and summary["source"] == str(csv) and 0 < summary["churn_rate"] < 1
    assert steps.read_summary(tmp_path / "dataset") == summary


def test_validate_refuses_bad_data_in_one_line_naming_the_file(config: Config, csv: Path, tmp_path: Path) -> None:
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0].replace("tenure", "tenor"), *lines[1:]]) + "\n")
    with pytest.raises(DataError) as error:
        steps.validate_data(config, str(csv), tmp_path / "dataset")
    assert str(csv) in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "dataset" / steps.DATASET).exists()


def _run_artifact(tmp_path: Path) -> Path:
    """An artifact folder as train/evaluate leave it: the run at folder/<run id>, summary.json."""
    folder = tmp_path / "evaluated"
    run = make_run_dir(folder.parent / "made")
    folder.mkdir()
    run.rename(folder / run.name)
    steps.write_summary(folder, {"run_id": run.name})
    return folder


def test_the_first_model_passes_the_gate_and_becomes_champion_on_upload(config: Config, tmp_path: Path) -> None:
    evaluated = _run_artifact(tmp_path)
    decision = steps.gate(config, evaluated, tmp_path / "unused", tmp_path / "decision")
    assert decision["promote"] is True and "no churn@champion yet" in decision["reason"]
    assert atomic.read_json(tmp_path / "decision" / steps.DECISION)["promote"] is True
    registered = steps.upload(config, evaluated, True, tmp_path / "registered")
    assert registered["model"] == "churn@1" and registered["champion"] is True
    from pipeline.backends.local import LocalModelRegistry

    version = LocalModelRegistry(config).resolve("churn@champion")
    assert version.version_id == "1" and version.run_id == steps.read_summary(evaluated)["run_id"]
    assert "challenger" in version.aliases


def test_deploy_and_monitoring_do_nothing_unless_promoted_and_wanted(config: Config, tmp_path: Path) -> None:
    kept = steps.deploy(config, tmp_path / "config.yaml", tmp_path / "d1", promote=False, wanted=True)
    assert kept == {"deployed": False, "reason": "not deployed: the gate kept the champion"}
    off = steps.deploy(config, tmp_path / "config.yaml", tmp_path / "d2", promote=True, wanted=False)
    assert off["deployed"] is False and "deploy=false" in off["reason"]
    monitoring = steps.setup_monitoring(config, tmp_path / "d1", tmp_path / "m")
    assert monitoring["set_up"] is False
    assert not (config.paths.monitoring / "monitoring_job.json").exists()


def test_monitoring_follows_a_deployment(config: Config, tmp_path: Path) -> None:
    steps.write_summary(tmp_path / "deployment", {"deployed": True})
    summary = steps.setup_monitoring(config, tmp_path / "deployment", tmp_path / "monitoring")
    assert summary["set_up"] is True and summary["endpoint"] == "churn-endpoint"
    assert (config.paths.monitoring / "monitoring_job.json").is_file()


def test_an_artifact_without_a_summary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="summary.json"):
        steps.run_in(tmp_path)
