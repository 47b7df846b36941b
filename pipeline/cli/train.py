"""Training commands: `churn train`, `churn evaluate`, `churn export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ConfigOpt, SetOpt, console, load

RunDirArg = Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")]


def train_command(
    data: Annotated[str | None, typer.Option("--data", help=(
        "Training data (default: data.path): a CSV or Parquet file, a folder or a glob of shards, local or "
        "gs://BUCKET/PATH; bq://PROJECT.DATASET.TABLE or bq://PROJECT?query=SQL."))] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: artifacts/runs/<id>).")] = None,
    streaming: Annotated[bool | None, typer.Option("--streaming/--no-streaming", help=(
        "Stream the data in bounded memory (default: when over train.streaming_threshold_rows)."))] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train the Keras network and two baselines, evaluate them and export the SavedModel.

    The last line printed is the run directory.
    Example: [bold]churn train --data data/sample/customer_churn.csv --set train.epochs=3[/]
    """
    from pipeline.training.train import train_run

    run = train_run(load(config, set_), data, run_dir, streaming=streaming)
    print_summary(run)
    print(run)


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
