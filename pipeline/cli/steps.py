"""Local pipeline steps: data, train, evaluate, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ConfigOpt, SetOpt, app, console, load


@app.command("data")
def data_command(
    rows: Annotated[int, typer.Option(min=1, help="Rows to generate.")] = 7043,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 42,
    out: Annotated[Path, typer.Option(help="Output CSV.")] = Path("data/sample/customer_churn.csv"),
) -> None:
    """Generate Telco-schema churn data with realistic effects.

    Example: [bold]churn data --rows 1000000 --out /tmp/big.csv[/]
    """
    from pipeline.tools import synth

    with console.status(f"Generating {rows:,} rows"):
        path = synth.write_customers(synth.generate_customers(rows, seed), out)
    console.print(f"wrote {rows:,} rows to", style="green", end=" ")
    print(path)


@app.command("train")
def train_command(
    data: Annotated[Path | None, typer.Option("--data", help="Training CSV (default: data.path).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: artifacts/runs/<id>).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train the Keras network and two baselines, evaluate them and export the SavedModel.

    The last line printed is the run directory.
    Example: [bold]churn train --data data/sample/customer_churn.csv --set train.epochs=3[/]
    """
    from pipeline.training.train import train_run

    run = train_run(load(config, set_), data, run_dir)
    _print_summary(run)
    print(run)


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")],
    data: Annotated[Path | None, typer.Option("--data", help="Labelled CSV (default: the run's data).")] = None,
) -> None:
    """Recompute metrics.json, plots and report.html of a run.

    Example: [bold]churn evaluate artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.training.runs import evaluate_run

    with console.status("Evaluating"):
        evaluate_run(run_dir, data)
    _print_summary(run_dir)
    print(run_dir)


@app.command("export")
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")],
) -> None:
    """Re-export the run's SavedModel (serving_default -> churn_probability) and model card.

    Example: [bold]churn export artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.training.export import export_run
    from pipeline.training.runs import check_run_dir

    with console.status("Exporting SavedModel"):
        path = export_run(check_run_dir(run_dir))
    print(path)


def _print_summary(run_dir: Path) -> None:
    from rich.table import Table

    from pipeline.core import atomic
    from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES

    metrics = atomic.read_json(Path(run_dir) / "metrics.json")
    table = Table(title=f"Test metrics (threshold {metrics['threshold']:.3f})")
    table.add_column("metric")
    for name in MODEL_NAMES:
        table.add_column(name, justify="right")
    for metric in METRIC_NAMES:
        table.add_row(metric, *(f"{metrics['test'][m][metric]:.4f}" for m in MODEL_NAMES))
    console.print(table)
    console.print(f"report: {Path(run_dir) / 'report.html'}")


@app.command("compat")
def compat_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")],
    side_python: Annotated[Path, typer.Option(help="Python of the TF 2.15 side environment.")] = Path(
        ".venv-tf215/bin/python"),
    data: Annotated[Path | None, typer.Option("--data", help="Data whose test split is compared.")] = None,
) -> None:
    """Check the SavedModel predicts the same under TensorFlow 2.15 (Vertex's serving image).

    `make compat` builds the side environment first.
    Example: [bold]churn compat artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.tools.compat import check_compat

    with console.status("Scoring the test split here and under the serving runtime"):
        result = check_compat(run_dir, side_python, data)
    console.print(f"[green]compatible[/]: TF {result['side_tensorflow']} max abs diff "
                  f"{result['max_abs_diff']:.2e} < {result['tolerance']:.0e} on {result['rows']:,} test rows")
