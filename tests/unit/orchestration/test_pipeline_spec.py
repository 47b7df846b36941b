"""The compiled pipeline (what `make pipeline` writes), loaded back: its components, their
image, its parameters and the DAG edges between the steps; and kfp stays out of the commands
that do not need it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.backends.vertex import naming
from pipeline.cli.app import app
from pipeline.config import Config, load_config
from pipeline.orchestration import steps

STEPS = ["validate-data", "train-model", "evaluate-model", "gate-model", "upload-model", "deploy-model",
         "setup-monitoring"]
EDGES = {
    "validate-data": set(),
    "train-model": {"validate-data"},
    "evaluate-model": {"validate-data", "train-model"},
    "gate-model": {"validate-data", "evaluate-model"},
    "upload-model": {"validate-data", "evaluate-model", "gate-model"},
    "deploy-model": {"validate-data", "upload-model", "gate-model"},
    "setup-monitoring": {"validate-data", "deploy-model"},
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(None, [f"paths.artifacts={tmp_path}", "vertex.project=proj-1", "vertex.region=europe-west4",
                              "registry.model_name=churn-eu", "retrain.min_auc_gain=0.002"], environ={})


@pytest.fixture
def spec(config: Config, tmp_path: Path) -> dict[str, Any]:
    """Compiled through the command `make pipeline` runs."""
    done = CliRunner().invoke(app, ["pipeline", "compile", "--set", f"paths.artifacts={tmp_path}",
                                    "--set", "vertex.project=proj-1", "--set", "vertex.region=europe-west4",
                                    "--set", "registry.model_name=churn-eu", "--set", "retrain.min_auc_gain=0.002"])
    assert done.exit_code == 0, done.output
    path = Path(done.output.strip().splitlines()[-1])
    assert path == tmp_path / "pipeline" / "churn_pipeline.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_one_component_per_step_each_in_the_package_image(spec: dict[str, Any], config: Config) -> None:
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(STEPS) and list(steps.TASKS) == STEPS  # TASKS: the order they run in
    executors = spec["deploymentSpec"]["executors"]
    assert sorted(executors) == sorted(f"exec-{step}" for step in STEPS)
    image = naming.image_uri(config)
    assert image == "europe-west4-docker.pkg.dev/proj-1/churn/churn-pipeline:" + image.rsplit(":", 1)[1]
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == image, name
        script = " ".join(container["command"] + container.get("args", []))
        assert "pip install" not in script, f"{name} installs packages at start: the image has them"
        assert "from pipeline.orchestration import steps" in script, f"{name} does not call the step functions"


def test_parameters_are_data_config_model_name_thresholds_and_deploy(spec: dict[str, Any], config: Config) -> None:
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {name: p["parameterType"] for name, p in parameters.items()} == {
        "data_uri": "STRING", "config": "STRING", "model_name": "STRING", "min_auc_gain": "NUMBER_DOUBLE",
        "tolerance": "NUMBER_DOUBLE", "deploy": "BOOLEAN"}
    assert parameters["model_name"]["defaultValue"] == "churn-eu"
    assert parameters["min_auc_gain"]["defaultValue"] == pytest.approx(0.002)
    carried = json.loads(parameters["config"]["defaultValue"])  # the whole config, one line of JSON
    assert Config.model_validate(carried) == config


def test_the_dag_orders_the_steps_and_passes_artifacts(spec: dict[str, Any]) -> None:
    tasks = spec["root"]["dag"]["tasks"]
    assert {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()} == EDGES
    train_inputs = tasks["train-model"]["inputs"]["artifacts"]["dataset"]["taskOutputArtifact"]
    assert train_inputs == {"outputArtifactKey": "dataset", "producerTask": "validate-data"}
    evaluated = tasks["upload-model"]["inputs"]["artifacts"]["evaluated"]["taskOutputArtifact"]
    assert evaluated == {"outputArtifactKey": "evaluated", "producerTask": "evaluate-model"}
    promote = tasks["deploy-model"]["inputs"]["parameters"]["promote"]["taskOutputParameter"]
    assert promote == {"outputParameterKey": "Output", "producerTask": "gate-model"}
    for name, task in tasks.items():
        assert task.get("cachingOptions", {}).get("enableCache") in (None, False), name
    outputs = spec["components"]["comp-train-model"]["outputDefinitions"]["artifacts"]
    assert outputs["run"]["artifactType"]["schemaTitle"] == "system.Model"
    outputs = spec["components"]["comp-evaluate-model"]["outputDefinitions"]["artifacts"]
    assert {k: v["artifactType"]["schemaTitle"] for k, v in outputs.items()} == {
        "evaluated": "system.Model", "metrics": "system.Metrics", "report": "system.HTML"}


def test_commands_that_do_not_need_kfp_do_not_import_it(tmp_path: Path) -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom pipeline.cli.app import app\n"
            f"sets = ['--set', 'paths.artifacts={tmp_path}']\n"
            "for args in (['--help'], ['pipeline', '--help'], ['models', 'list', *sets], ['image', 'uri', *sets]):\n"
            "    CliRunner().invoke(app, args)\n"
            "print(sorted(m for m in ('kfp', 'tensorflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_target_defaults_to_where_the_config_backend_runs(config: Config) -> None:
    from pipeline.backends import pipeline_target
    from pipeline.errors import ConfigError

    assert pipeline_target(config) == "local" and pipeline_target(config, "vertex") == "vertex"
    assert pipeline_target(config.model_copy(update={"backend": "vertex"})) == "vertex"
    with pytest.raises(ConfigError, match="--target 'gke': expected local or vertex"):
        pipeline_target(config, "gke")
