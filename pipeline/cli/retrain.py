"""`churn retrain`: a challenger trained on old + new data, gated against the champion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ConfigOpt, SetOpt, console, open_backend, print_plans


def retrain_command(
    data: Annotated[Path | None, typer.Option("--data", help="Newly labelled CSV (Telco schema).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train a challenger on old + new data; promote it to champion only if it is better.

    Both models are judged on the same recent labelled holdout; the decision record is written
    to artifacts/retrain/<ts>/decision.json. A promoted challenger is rolled out to the endpoint
    when one is serving (Vertex: with retrain.canary_percentage of traffic first).
    Example: [bold]churn retrain --data artifacts/simulations/20261125-200000/labelled.csv[/]
    """
    from pipeline.training.retrain import retrain

    settings, backend = open_backend(config, set_)
    decision, record = retrain(settings, backend, data)
    table = Table(title=f"Champion v{decision.champion_version} vs challenger v{decision.challenger_version} "
                        f"on {decision.holdout_rows:,} holdout rows")
    table.add_column("metric")
    table.add_column("champion", justify="right")
    table.add_column("challenger", justify="right")
    for metric, value in decision.metrics["champion"].items():
        table.add_row(metric, f"{value:.4f}", f"{decision.metrics['challenger'][metric]:.4f}")
    console.print(table)
    print_plans(backend)
    verdict = "[bold green]PROMOTED[/]" if decision.promoted else "[bold yellow]KEPT CHAMPION[/]"
    console.print(f"{verdict}: {decision.reason}")
    print(record)


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain_command)
