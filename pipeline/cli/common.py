"""Shared pieces of the command line: the Typer app, consoles and common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline.config import Config, load_config

app = typer.Typer(
    name="churn",
    help="Customer-churn pipeline: data -> train -> evaluate -> export -> upload -> deploy "
    "-> monitor -> retrain. Local backend by default; configs/vertex.yaml for Vertex AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
console_err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config YAML (default: $CHURN_CONFIG or configs/local.yaml)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value, e.g. --set train.epochs=3 (repeatable)."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Vertex mode: print the plan and gcloud equivalents, call nothing.")
]


def load(config_path: Path | None, sets: list[str] | None) -> Config:
    """Load the config named on the command line, with --set overrides applied."""
    return load_config(config_path, sets or ())
