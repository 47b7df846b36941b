"""Training commands: `churn train`, `churn evaluate`, `churn export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ConfigOpt, SetOpt, console, load

RunDirArg = Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")]


def train_command(
    data: Annotated[Path | None, typer.Option("--data", help="Training CSV (default: data.path).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: artifacts/runs/<id>).")] = None,
    profile: Annotated[bool, typer.Option(
        "--profile", help="Also trace train.profile_steps steps (TensorBoard's Profile tab) and print "
        "input vs compute time.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train the Keras network and two baselines, evaluate them and export the SavedModel.

    The last line printed is the run directory. With TF_CONFIG or CLUSTER_SPEC naming more than one
    worker, this process is one task of a multi-worker training: the chief writes the run, the
    workers print nothing on stdout (see `make train-distributed`).
    Example: [bold]churn train --data data/sample/customer_churn.csv --set train.epochs=3[/]
    """
    from pipeline.training.train import train_or_join

    run = train_or_join(load(config, set_), data, run_dir, profile=profile)
    if run is None:  # a worker of a multi-worker training: the chief wrote the run
        return
    print_summary(run)
    if profile:
        print_profile(run)
    print(run)


def print_profile(run_dir: Path) -> None:
    from pipeline.core import atomic
    from pipeline.core.rundir import RunDir
    from pipeline.training.profiling import describe

    run = RunDir(Path(run_dir))
    found = atomic.read_json(run.profile_file)
    if found.get("trace"):
        found["trace"] = str(run.path / found["trace"])
    console.print(describe(found), highlight=False, soft_wrap=True)


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
