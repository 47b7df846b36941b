"""Training commands: `churn train`, `churn evaluate`, `churn export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import (
    ConfigOpt,
    DryRunOpt,
    SetOpt,
    Target,
    TargetOpt,
    console,
    console_err,
    open_backend,
    print_plans,
)

RunDirArg = Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")]


def train_command(
    data: Annotated[str | None, typer.Option(
        "--data", help="Training data: a CSV here, or gs://... / bq://PROJECT.DATASET.TABLE "
        "(default: data.path).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: artifacts/runs/<id>).")] = None,
    target: TargetOpt = Target.local,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Train the Keras network and two baselines, evaluate them and export the SavedModel.

    --target local (default): here; the last line printed is the run directory.
    --target vertex: a Vertex AI CustomJob runs the same `python -m pipeline train` in the
    package's image (vertex.training: machines, replicas, GPUs) on gs:// or bq:// data; the
    SavedModel lands in gs://BUCKET/training/<run_id>/model/ and the run in .../run/. The last
    line printed is the job's name: follow it with `churn jobs show`.
    Example: [bold]churn train --data data/sample/customer_churn.csv --set train.epochs=3[/]
    """
    from pipeline.backends.base import TrainingRequest

    _, backend = open_backend(config, set_, dry_run, target)
    result = backend.jobs.train(TrainingRequest(data=data, run_dir=run_dir))
    print_plans(backend)
    if result.run_dir is not None:
        print_summary(result.run_dir)
        print(result.run_dir)
    elif result.job is not None and not backend.dry_run:
        console_err.print(f"submitted training job {result.job.display_name} ({result.job.state}); "
                          f"the run directory will be in {result.job.output}; follow it with "
                          f"`churn jobs show {result.job.id} --wait`", highlight=False, soft_wrap=True)
        print(result.job.name)


def evaluate_command(
    run_dir: RunDirArg,
    data: Annotated[Path | None, typer.Option("--data", help="Labelled CSV (default: the run's data).")] = None,
) -> None:
    """Recompute metrics.json, plots and report.html of a run.

    Example: [bold]churn evaluate artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.training.runs import evaluate_run

    with console.status("Evaluating"):
        evaluate_run(run_dir, data)
    print_summary(run_dir)
    print(run_dir)


def export_command(run_dir: RunDirArg) -> None:
    """Re-export the run's SavedModel (serving_default -> churn_probability) and model card.

    Example: [bold]churn export artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.training.export import export_run
    from pipeline.training.runs import check_run_dir

    with console.status("Exporting SavedModel"):
        path = export_run(check_run_dir(run_dir))
    print(path)


def print_summary(run_dir: Path) -> None:
    from rich.table import Table

    from pipeline.core.rundir import RunDir
    from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES

    run = RunDir(Path(run_dir))
    metrics = run.metrics()
    table = Table(title=f"Test metrics (threshold {metrics.threshold:.3f})")
    table.add_column("metric")
    for name in MODEL_NAMES:
        table.add_column(name, justify="right")
    for metric in METRIC_NAMES:
        table.add_row(metric, *(f"{metrics.test[m][metric]:.4f}" for m in MODEL_NAMES))
    console.print(table)
    console.print(f"report: {run.report_file}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("export")(export_command)
