"""Shared pieces of the command line: consoles, common options, loading the config and the
backend, printing what a backend did or planned."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pipeline.config import Config, load_config

if TYPE_CHECKING:
    from pipeline.backends.base import Backend, Outcome

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
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="REF: churn@champion, churn@3 or a run directory (default: serve.model).")]


def load(config_path: Path | None, sets: list[str] | None) -> Config:
    """Load the config named on the command line, with --set overrides applied."""
    return load_config(config_path, sets or (), warn=lambda line: console_err.print(
        f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True))


def config_args(config_path: Path | None, sets: list[str] | None) -> list[str]:
    """The --config/--set options again, for commands that start other commands."""
    args = ["--config", str(config_path)] if config_path else []
    for item in sets or []:
        args += ["--set", item]
    return args


def open_backend(config_path: Path | None, sets: list[str] | None, dry_run: bool = False
                 ) -> tuple[Config, Backend]:
    """The config and the backend it names (the one place a command learns its backend)."""
    from pipeline.backends import backend_for

    config = load(config_path, sets)
    return config, backend_for(config, dry_run=dry_run, server_args=config_args(config_path, sets))


def print_plans(backend: Backend) -> None:
    """On a dry run, the calls that would be made; otherwise the notes of the calls made."""
    from pipeline.backends.vertex.plan import render_plan

    if backend.dry_run and backend.plans:
        console.print("[bold cyan]Dry run:[/] nothing was called; this is the plan.")
        for plan in backend.plans:
            render_plan(plan, console)
        return
    for plan in backend.plans:
        for note in plan.get("notes", []):
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


def print_outcome(backend: Backend, outcome: Outcome) -> None:
    print_plans(backend)
    if not backend.dry_run:
        console.print(outcome.message, highlight=False, soft_wrap=True)
        print_details(outcome.details)


def print_details(details: Mapping[str, Any]) -> None:
    import json

    from rich.table import Table

    if not details:
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in details.items():
        table.add_row(str(key), value if isinstance(value, str) else json.dumps(value, default=str))
    console.print(table)
