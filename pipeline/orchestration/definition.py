"""The churn pipeline's graph and its compiled YAML.

validate-data -> train-model -> evaluate-model -> gate-model -> upload-model -> deploy-model
-> setup-monitoring; the last two act only when the gate promoted the challenger and `deploy`
is true (otherwise they record why they did nothing).
Parameters: data_uri, config (the whole config as JSON text), model_name and the gate's
thresholds (min_auc_gain, tolerance), deploy. Defaults come from the config it is compiled
from; `churn pipeline run` passes the current values. Caching is off: the gate, upload and
deploy act on the registry and endpoint, whose state a cached result would not see.
"""

import json
import tempfile
from pathlib import Path
from typing import Any

from kfp import compiler, dsl

from pipeline.backends.vertex import naming
from pipeline.config import Config, config_as_dict
from pipeline.core import atomic
from pipeline.orchestration.components import make_components

PIPELINE_NAME = "churn-pipeline"
TEMPLATE = "churn_pipeline.yaml"
PARAMETERS = ("data_uri", "config", "model_name", "min_auc_gain", "tolerance", "deploy")


def template_path(config: Config) -> Path:
    """Where `make pipeline` and `churn pipeline compile` write the YAML."""
    return config.paths.artifacts / "pipeline" / TEMPLATE


def parameter_values(config: Config, data_uri: str | None = None, deploy: bool = True) -> dict[str, Any]:
    """The pipeline's parameters for `config` (data_uri defaults to data.path)."""
    return {"data_uri": str(data_uri or config.data.path),
            # One line of JSON (which YAML reads): kfp writes defaults into the compiled file's
            # header comment, where a multi-line default would break the YAML.
            "config": json.dumps(config_as_dict(config)),
            "model_name": config.registry.model_name,
            "min_auc_gain": float(config.retrain.min_auc_gain),
            "tolerance": float(config.retrain.tolerance),
            "deploy": bool(deploy)}


def build_pipeline(config: Config) -> Any:
    """The @dsl.pipeline function, its components in naming.image_uri(config) and its
    parameter defaults from `config`."""
    ops = make_components(naming.image_uri(config))
    defaults = parameter_values(config)

    @dsl.pipeline(name=PIPELINE_NAME, description="Churn model: validate, train, evaluate, gate against "
                  "the champion, upload, deploy, set up monitoring (the `churn` steps, in this package's image).")
    def churn_pipeline(data_uri: str = defaults["data_uri"], config: str = defaults["config"],
                       model_name: str = defaults["model_name"], min_auc_gain: float = defaults["min_auc_gain"],
                       tolerance: float = defaults["tolerance"], deploy: bool = True) -> None:
        common = {"config": config, "model_name": model_name, "min_auc_gain": min_auc_gain,
                  "tolerance": tolerance}
        validated = ops["validate_data"](data_uri=data_uri, **common)
        dataset = validated.outputs["dataset"]
        trained = ops["train_model"](dataset=dataset, **common)
        evaluated = ops["evaluate_model"](dataset=dataset, run=trained.outputs["run"])
        gated = ops["gate_model"](dataset=dataset, evaluated=evaluated.outputs["evaluated"], **common)
        uploaded = ops["upload_model"](dataset=dataset, evaluated=evaluated.outputs["evaluated"],
                                       promote=gated.outputs["Output"], **common)
        # The last two decide themselves whether to act (promoted and deploy): kfp.local 2.16
        # cannot evaluate a dsl.If on a task output (it skips the branch), and this way the
        # graph runs the same here and on Vertex AI Pipelines.
        deployed = ops["deploy_model"](dataset=dataset, registered=uploaded.outputs["registered"],
                                       promote=gated.outputs["Output"], deploy=deploy, **common)
        monitored = ops["setup_monitoring"](dataset=dataset, deployment=deployed.outputs["deployment"], **common)
        tasks = [validated, trained, evaluated, gated, uploaded, deployed, monitored]
        for task in tasks:
            task.set_caching_options(False)

    return churn_pipeline


def compile_pipeline(config: Config, out: Path | None = None) -> Path:
    """Compile the pipeline for `config` to YAML at `out` (default template_path(config));
    offline: nothing is called."""
    out = Path(out) if out else template_path(config)
    with tempfile.TemporaryDirectory(prefix="churn-compile-") as scratch:
        compiled = Path(scratch) / TEMPLATE
        compiler.Compiler().compile(build_pipeline(config), package_path=str(compiled))
        return atomic.write_text(out, compiled.read_text(encoding="utf-8"))
