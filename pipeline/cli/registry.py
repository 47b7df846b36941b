"""Registry and deployment commands: upload, models, deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, app, console, load

models_app = typer.Typer(help="List, inspect, promote and roll back registered model versions.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")

AliasOpt = Annotated[list[str] | None, typer.Option("--alias", help="Alias to set (repeatable), e.g. challenger.")]


def config_args(config: Path | None, sets: list[str] | None) -> list[str]:
    """The --config/--set options again, for commands that start other commands."""
    args = ["--config", str(config)] if config else []
    for item in sets or []:
        args += ["--set", item]
    return args


@app.command("upload")
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
    from pipeline.registry import LocalRegistry, parse_labels

    settings = load(config, set_)
    labels = {**settings.registry.labels, **parse_labels(label or [])}
    if settings.backend == "vertex":
        from pipeline.cloud.registry import upload_run_to_vertex

        settings.registry.labels = labels
        from pipeline.cloud.plan import print_result

        print_result(upload_run_to_vertex(settings, run_dir, list(alias or []), dry_run), console)
        return
    registry = LocalRegistry.from_config(settings)
    with console.status("Registering model version"):
        version = registry.upload(run_dir, list(alias or []), labels)
    held = sorted(a for a, v in registry.aliases().items() if v == version)
    console.print(f"registered [bold]{registry.name}@{version}[/] (aliases: {', '.join(held)})")
    print(f"{registry.name}@{version}")


@models_app.command("list")
def models_list(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Every registered version with its aliases and test metrics.

    Example: [bold]churn models list[/]
    """
    from pipeline.registry import LocalRegistry

    registry = LocalRegistry.from_config(load(config, set_))
    aliases = registry.aliases()
    table = Table(title=f"Model {registry.name} ({registry.root})")
    for column in ("version", "aliases", "created", "run", "ROC-AUC", "F1", "threshold"):
        table.add_column(column, justify="right" if column in {"ROC-AUC", "F1", "threshold"} else "left")
    for version in registry.versions():
        info = registry.info(version)
        held = ", ".join(sorted(a for a, v in aliases.items() if v == version))
        metrics = info["test_metrics"]
        table.add_row(str(version), held, info["created_at"], info["run_id"], f"{metrics['roc_auc']:.4f}",
                      f"{metrics['f1']:.4f}", f"{info['threshold']:.3f}")
    console.print(table if registry.versions() else "no versions yet: run `churn upload RUN_DIR`")


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="churn@champion, churn@3 or a run directory.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Details of one version: aliases, labels, metrics, where its files are.

    Example: [bold]churn models show churn@champion[/]
    """
    from pipeline.registry import resolve_model, version_metrics

    resolved = resolve_model(load(config, set_), ref)
    threshold, metrics = version_metrics(resolved)
    labels = resolved.info.get("labels")
    table = Table(title=f"{resolved.name}@{resolved.version_id}")
    table.add_column("field")
    table.add_column("value")
    table.add_row("aliases", ", ".join(resolved.aliases) or "-")
    table.add_row("labels", ", ".join(f"{k}={v}" for k, v in labels.items()) if isinstance(labels, dict) else "-")
    table.add_row("model", str(resolved.model_dir))
    table.add_row("threshold", f"{threshold:.4f}")
    for name, value in metrics.items():
        table.add_row(f"test {name}", f"{value:.4f}" if isinstance(value, (int, float)) else str(value)[:80])
    console.print(table)


@models_app.command("promote")
def models_promote(
    version: Annotated[int, typer.Argument(help="Version number to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Point an alias (default: champion) at a version, atomically.

    Example: [bold]churn models promote 3 --alias champion[/]
    """
    from pipeline.registry import LocalRegistry

    registry = LocalRegistry.from_config(load(config, set_))
    previous = registry.promote(version, alias)
    console.print(f"{registry.name}@{alias}: {previous or '-'} -> {version}")


@models_app.command("rollback")
def models_rollback(
    alias: Annotated[str, typer.Option("--alias", help="Alias to roll back.")] = "champion",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Move an alias back to the version it held before its latest promotion.

    Example: [bold]churn models rollback[/]
    """
    from pipeline.registry import LocalRegistry

    registry = LocalRegistry.from_config(load(config, set_))
    version = registry.rollback(alias)
    console.print(f"{registry.name}@{alias} -> {version}")


@app.command("deploy")
def deploy_command(
    model: Annotated[str | None, typer.Option("--model", help="REF to deploy (default: serve.model).")] = None,
    canary: Annotated[int | None, typer.Option("--canary", min=1, max=99,
                                               help="Vertex: percent of traffic for the new model.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Deploy a model to an endpoint.

    Local: runs `churn serve` in the background (stop it with `churn undeploy`).
    Vertex: get-or-create the endpoint and deploy with machine type, replicas and traffic split.
    Example: [bold]churn deploy --model churn@champion[/]
    """
    settings = load(config, set_)
    ref = model or settings.serve.model
    if settings.backend == "vertex":
        from pipeline.cloud.endpoints import deploy_to_vertex
        from pipeline.cloud.plan import print_result

        print_result(deploy_to_vertex(settings, ref, canary, dry_run), console)
        return
    from pipeline.endpoints import deploy_local

    with console.status(f"Starting local endpoint for {ref}"):
        record = deploy_local(settings, ref, config_args(config, set_))
    console.print(f"endpoint [bold]{record['endpoint']}[/] serves {ref} (version {record['model_version']}) "
                  f"at {record['url']}/v1/endpoints/{record['endpoint']}:predict (pid {record['pid']})")
    print(record["url"])
