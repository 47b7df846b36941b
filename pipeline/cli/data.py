"""`churn data`: generate Telco-schema data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import console


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


def register(app: typer.Typer) -> None:
    app.command("data")(data_command)
