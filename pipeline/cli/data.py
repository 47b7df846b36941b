"""`churn data`: generate Telco-schema data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from pipeline.cli.common import console


def data_command(
    rows: Annotated[int, typer.Option(min=1, help="Rows to generate.")] = 7043,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 42,
    out: Annotated[Path, typer.Option(help="Output CSV, or the (new) folder of Parquet shards.")] = Path(
        "data/sample/customer_churn.csv"),
    format_: Annotated[Literal["csv", "parquet"], typer.Option("--format", help="csv: one file; parquet: shards.")
                       ] = "csv",
    shards: Annotated[int, typer.Option(min=1, help="Parquet files to split the rows into.")] = 1,
) -> None:
    """Generate Telco-schema churn data with realistic effects, written chunk by chunk
    (bounded memory at any row count).

    Example: [bold]churn data --rows 10000000 --format parquet --shards 8 --out /tmp/churn10m[/]
    """
    from pipeline.tools import synth_files

    with console.status(f"Generating {rows:,} rows"):
        if format_ == "parquet":
            paths = synth_files.write_parquet_shards(rows, seed, out, shards)
            path = out
        else:
            path = synth_files.write_csv(rows, seed, out)
            paths = [path]
    console.print(f"wrote {rows:,} rows to {len(paths)} file(s) in" if format_ == "parquet"
                  else f"wrote {rows:,} rows to", style="green", end=" ")
    print(path)


def register(app: typer.Typer) -> None:
    app.command("data")(data_command)
