"""The KFP components: one lightweight Python component per step, each a thin call into
pipeline.orchestration.steps run inside this package's image (naming.image_uri), so the
image, not the pipeline spec, carries the code. kfp is imported here, and only
`churn pipeline ...` imports this module.

No `from __future__ import annotations`: kfp reads the Input/Output annotations at
decoration time. Each function body is shipped as source into the spec, so it imports what
it uses itself.
"""

from collections.abc import Callable

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output


def validate_data(data_uri: str, config: str, model_name: str, min_auc_gain: float, tolerance: float,
                  dataset: Output[Dataset]) -> None:
    """Validate the CSV at data_uri and keep the checked copy as the pipeline's dataset."""
    from pathlib import Path

    from pipeline.orchestration import steps

    folder = Path(dataset.path)
    settings = steps.step_config(config, folder, steps.pipeline_sets(model_name, min_auc_gain, tolerance))
    dataset.metadata.update(steps.validate_data(settings, data_uri, folder))


def train_model(config: str, model_name: str, min_auc_gain: float, tolerance: float,
                dataset: Input[Dataset], run: Output[Model]) -> None:
    """churn train on the dataset; the run directory is the Model artifact's folder."""
    import tempfile
    from pathlib import Path

    from pipeline.orchestration import steps

    folder, data = Path(run.path), Path(dataset.path)
    sets = steps.pipeline_sets(model_name, min_auc_gain, tolerance, data / steps.DATASET)
    settings = steps.step_config(config, folder, sets)
    with tempfile.TemporaryDirectory(prefix="churn-train-") as scratch:
        run.metadata.update(steps.train(settings, data, folder, Path(scratch)))


def evaluate_model(dataset: Input[Dataset], run: Input[Model], evaluated: Output[Model],
                   metrics: Output[Metrics], report: Output[HTML]) -> None:
    """churn evaluate on a copy of the run: metrics (logged for the console) and report.html."""
    import shutil
    from pathlib import Path

    from pipeline.orchestration import steps

    summary = steps.evaluate(Path(run.path), Path(dataset.path), Path(evaluated.path))
    evaluated.metadata.update(summary)
    for name, value in summary["test_metrics"].items():
        metrics.log_metric(name, value)
    metrics.log_metric("threshold", summary["threshold"])
    shutil.copyfile(steps.run_in(Path(evaluated.path)) / "report.html", report.path)


def gate_model(config: str, model_name: str, min_auc_gain: float, tolerance: float,
               dataset: Input[Dataset], evaluated: Input[Model], decision: Output[Artifact]) -> bool:
    """The champion/challenger gate; returns whether the challenger becomes champion."""
    from pathlib import Path

    from pipeline.orchestration import steps

    folder, data = Path(decision.path), Path(dataset.path)
    sets = steps.pipeline_sets(model_name, min_auc_gain, tolerance, data / steps.DATASET)
    settings = steps.step_config(config, folder, sets)
    summary = steps.gate(settings, Path(evaluated.path), data, folder)
    decision.metadata.update(summary)
    return bool(summary["promote"])


def upload_model(config: str, model_name: str, min_auc_gain: float, tolerance: float, promote: bool,
                 dataset: Input[Dataset], evaluated: Input[Model], registered: Output[Artifact]) -> None:
    """churn upload of the evaluated run (challenger; champion when promoted)."""
    from pathlib import Path

    from pipeline.orchestration import steps

    sets = steps.pipeline_sets(model_name, min_auc_gain, tolerance, Path(dataset.path) / steps.DATASET)
    settings = steps.step_config(config, Path(registered.path), sets)
    registered.metadata.update(steps.upload(settings, Path(evaluated.path), promote, Path(registered.path)))


def deploy_model(config: str, model_name: str, min_auc_gain: float, tolerance: float, promote: bool,
                 deploy: bool, dataset: Input[Dataset], registered: Input[Artifact],
                 deployment: Output[Artifact]) -> None:
    """churn deploy of the new champion (after upload: `registered` orders the two), when the
    gate promoted it and the run asks to deploy."""
    from pathlib import Path

    from pipeline.orchestration import steps

    folder = Path(deployment.path)
    sets = steps.pipeline_sets(model_name, min_auc_gain, tolerance, Path(dataset.path) / steps.DATASET)
    settings = steps.step_config(config, folder, sets)  # kept: the local endpoint's server reads it
    deployment.metadata.update(steps.deploy(settings, folder / steps.CONFIG, folder, promote, deploy))


def setup_monitoring(config: str, model_name: str, min_auc_gain: float, tolerance: float,
                     dataset: Input[Dataset], deployment: Input[Artifact], monitoring: Output[Artifact]) -> None:
    """churn monitoring setup on the endpoint just deployed (skew baseline: the dataset)."""
    import os
    from pathlib import Path

    from pipeline.orchestration import steps

    sets = steps.pipeline_sets(model_name, min_auc_gain, tolerance, Path(dataset.path) / steps.DATASET)
    settings = steps.step_config(config, Path(monitoring.path), sets)
    # The local schedule's cron line names the config it runs with (this step's copy).
    os.environ["CHURN_CONFIG"] = str(Path(monitoring.path, steps.CONFIG).resolve())
    monitoring.metadata.update(steps.setup_monitoring(settings, Path(deployment.path), Path(monitoring.path)))


STEP_FUNCTIONS: tuple[Callable[..., object], ...] = (
    validate_data, train_model, evaluate_model, gate_model, upload_model, deploy_model, setup_monitoring)


def make_components(image: str) -> dict[str, Callable[..., dsl.PipelineTask]]:
    """Every step as a component running in `image` (kfp comes with the package there, so
    nothing is pip-installed when a component starts)."""
    return {function.__name__: dsl.component(function, base_image=image, install_kfp_package=False)
            for function in STEP_FUNCTIONS}
