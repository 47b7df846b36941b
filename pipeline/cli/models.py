"""Registry commands: `churn upload` and `churn models list|show|promote|rollback`, on the
configured backend (local registry or Vertex AI Model Registry)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, console, open_backend, print_plans

if TYPE_CHECKING:
    from pipeline.backends.base import ModelVersion

models_app = typer.Typer(help="List, inspect, promote and roll back registered model versions.",
                         no_args_is_help=True)

AliasOpt = Annotated[list[str] | None, typer.Option("--alias", help="Alias to set (repeatable), e.g. challenger.")]


def upload_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")],
    alias: AliasOpt = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="key=value label (repeatable).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Register a run as a new immutable version of the model.

    Local: artifacts/registry/churn/versions/N. Vertex: gs://BUCKET/models/churn/N + Model.upload.
    Example: [bold]churn upload artifacts/runs/20261125-190000-abc123 --alias challenger[/]
    """
    from pipeline.registry.local_registry import parse_labels

    _, backend = open_backend(config, set_, dry_run)
    with console.status("Registering model version"):
        version = backend.registry.upload(run_dir, list(alias or []), parse_labels(label or []))
    print_plans(backend)
    if backend.dry_run:
        return
    console.print(f"registered [bold]{version.ref}[/] (aliases: {', '.join(version.aliases) or '-'})")
    print(version.ref)


def models_list(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Every registered version with its aliases and test metrics.

    Example: [bold]churn models list[/]
    """
    _, backend = open_backend(config, set_)
    versions = backend.registry.versions()
    if not versions:
        console.print("no versions yet: run `churn upload RUN_DIR`")
        return
    table = Table(title=f"Model {backend.registry.name} ({backend.kind} registry)")
    for column in ("version", "aliases", "created", "run", "ROC-AUC", "F1", "threshold"):
        table.add_column(column, justify="right" if column in {"ROC-AUC", "F1", "threshold"} else "left")
    for version in versions:
        table.add_row(version.version_id, ", ".join(version.aliases), version.created_at, version.run_id,
                      _number(version.test_metrics.get("roc_auc")), _number(version.test_metrics.get("f1")),
                      _number(version.threshold, 3))
    console.print(table)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def models_show(
    ref: Annotated[str, typer.Argument(help="churn@champion, churn@3 or a run directory.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Details of one version: aliases, labels, metrics, where its files are.

    Example: [bold]churn models show churn@champion[/]
    """
    _, backend = open_backend(config, set_)
    console.print(_version_table(backend.registry.resolve(ref)))


def _version_table(version: ModelVersion) -> Table:
    table = Table(title=version.ref)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("aliases", ", ".join(version.aliases) or "-")
    table.add_row("labels", ", ".join(f"{k}={v}" for k, v in version.labels.items()) or "-")
    table.add_row("model", version.location)
    if version.resource_name:
        table.add_row("resource", version.resource_name)
    table.add_row("run", version.run_id or "-")
    table.add_row("threshold", _number(version.threshold))
    for name, value in version.test_metrics.items():
        table.add_row(f"test {name}", _number(value))
    return table


def models_promote(
    version: Annotated[str, typer.Argument(help="Version number to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Point an alias (default: champion) at a version, atomically.

    Example: [bold]churn models promote 3 --alias champion[/]
    """
    _, backend = open_backend(config, set_, dry_run)
    previous = backend.registry.promote(version, alias)
    print_plans(backend)
    if not backend.dry_run:
        console.print(f"{backend.registry.name}@{alias}: {previous or '-'} -> {version}")


def models_rollback(
    alias: Annotated[str, typer.Option("--alias", help="Alias to roll back.")] = "champion",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Move an alias back to the version it held before its latest promotion.

    Example: [bold]churn models rollback[/]
    """
    _, backend = open_backend(config, set_, dry_run)
    version = backend.registry.rollback(alias)
    print_plans(backend)
    if not backend.dry_run:
        console.print(f"{backend.registry.name}@{alias} -> {version}")


def register(app: typer.Typer) -> None:
    app.command("upload")(upload_command)
    models_app.command("list")(models_list)
    models_app.command("show")(models_show)
    models_app.command("promote")(models_promote)
    models_app.command("rollback")(models_rollback)
    app.add_typer(models_app, name="models")
