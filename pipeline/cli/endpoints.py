"""Endpoint commands: `churn deploy`, `churn undeploy`, `churn cleanup`, on the configured
backend (a background `churn serve`, or a Vertex AI endpoint)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, console, open_backend, print_outcome, print_plans


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
    settings, backend = open_backend(config, set_, dry_run)
    ref = model or settings.serve.model
    with console.status(f"Deploying {ref}"):
        deployment = backend.endpoint.deploy(ref, canary)
    print_plans(backend)
    if backend.dry_run:
        return
    console.print(f"endpoint [bold]{deployment.endpoint}[/] serves {ref} (version {deployment.model_version}) "
                  f"at {deployment.url}", highlight=False, soft_wrap=True)
    snippet = deployment.details.get("sdk_snippet")
    if snippet:
        console.print("Call it with Google's SDK, as you would Vertex AI:", highlight=False)
        console.print(snippet, highlight=False, markup=False, soft_wrap=True)
    print(deployment.url)


def undeploy_command(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Take the endpoint down: stop the local one, or undeploy every model from the Vertex AI
    endpoint and delete it.

    Vertex: the endpoint's monitoring job goes first (Vertex keeps a monitored endpoint).
    Local: stops the server `churn deploy` started in the background.

    Example: churn undeploy --config configs/vertex.yaml --dry-run
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.endpoint.undeploy())


def cleanup_command(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Delete everything deployed that costs money: endpoints, monitoring, alerts.

    Vertex: every endpoint, monitoring job, alert policy and e-mail channel labelled
    managed-by=churn-pipeline; registered models and their gs:// artifacts are kept.
    Local: stops the background endpoint, like `churn undeploy`.

    Example: churn cleanup --config configs/vertex.yaml --dry-run
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.endpoint.cleanup())



def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_command)
    app.command("undeploy")(undeploy_command)
    app.command("cleanup")(cleanup_command)
