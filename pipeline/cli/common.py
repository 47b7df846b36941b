"""Shared pieces of the command line: consoles, common options, loading the config and the
backend, printing what a backend did or planned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
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


class Target(str, Enum):
    """Where `churn train` / `churn predict` run (the backend_for target)."""

    local = "local"
    vertex = "vertex"


TargetOpt = Annotated[Target, typer.Option(
    "--target", help="Where the work runs: local (this machine) or vertex (a Vertex AI job).")]


def open_backend(config_path: Path | None, sets: list[str] | None, dry_run: bool = False,
                 target: Target | None = None) -> tuple[Config, Backend]:
    """The config and the backend it names, or `target` picks (the one place a command learns
    its backend)."""
    from pipeline.backends import backend_for

    config = load(config_path, sets)
    return config, backend_for(config, dry_run=dry_run, server_args=config_args(config_path, sets),
                               target=target.value if target is not None else None)


def print_dry_run(plans: Sequence[Mapping[str, Any]], artifacts: Path) -> None:
    """A dry run's calls, and the new plan folder under artifacts/plans/ they are written to."""
    from pipeline.backends.vertex.plan import in_folder, render_dry_run, write_plan_folder

    folder = write_plan_folder(plans, artifacts / "plans")
    render_dry_run([in_folder(plan, folder) for plan in plans], console)
    console.print(f"[bold]Plan written to[/] {folder}/ (plan.json, plan.sh and the files its "
                  f"commands read): review it, then `bash {folder}/plan.sh`",
                  highlight=False, soft_wrap=True)


def print_plans(backend: Backend) -> None:
    """On a dry run, the calls that would be made, written to a new plan folder (plan.json,
    plan.sh and the files its commands read) under artifacts/plans/; otherwise the notes of
    the calls made."""
    if backend.dry_run and backend.plans:
        print_dry_run(backend.plans, backend.config.paths.artifacts)
        return
    for plan in backend.plans:
        for note in plan.get("notes", []):
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


def print_outcome(backend: Backend, outcome: Outcome) -> None:
    """The plan of a vertex dry run; otherwise what happened (a local dry run says what would)."""
    from pipeline.backends.vertex.plan import render_details

    print_plans(backend)
    if backend.dry_run and backend.plans:
        return
    console.print(outcome.message, highlight=False, soft_wrap=True)
    if not backend.dry_run:
        render_details(outcome.details, console)
