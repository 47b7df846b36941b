"""Job commands: `churn jobs list`, `churn jobs show`, `churn jobs cancel`, for the Vertex AI
jobs this project started (training, batch prediction, pipelines), found by its labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, console, open_backend, print_outcome, print_plans
from pipeline.errors import CloudError

if TYPE_CHECKING:
    from pipeline.backends.base import Job

jobs_app = typer.Typer(help="Vertex AI jobs this project started (training, batch prediction, pipelines).",
                       no_args_is_help=True)
JobArg = Annotated[str, typer.Argument(help="Job id (as `churn jobs list` shows it) or resource name.")]


def list_command(config: ConfigOpt = None, set_: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """List the custom, batch prediction and pipeline jobs labelled managed-by=churn-pipeline
    for this model, newest first.

    Example: [bold]churn jobs list --config configs/vertex.yaml[/]
    """
    from rich.table import Table

    _, backend = open_backend(config, set_, dry_run)
    found = backend.jobs.list_jobs()
    print_plans(backend)
    if backend.dry_run:
        return
    if not found:
        console.print("no jobs of this project", highlight=False)
        return
    table = Table(title="Jobs of this project")
    for column in ("id", "kind", "name", "state", "created", "output"):
        table.add_column(column, overflow="fold")
    for job in found:
        table.add_row(job.id, job.kind.replace("_", " "), job.display_name, job.state, job.created_at[:19],
                      job.output)
    console.print(table)


def show_command(
    job: JobArg,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job finishes; exit 2 if it failed.")] = False,
    timeout: Annotated[float, typer.Option(help="Most seconds --wait waits.")] = 24 * 3600.0,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Show a job: state, times, where its results are; a failed job's error in one line (its
    error and the last error its replicas logged).

    Example: [bold]churn jobs show 1234567890 --wait[/]
    """
    from pipeline.backends.vertex.plan import render_details

    _, backend = open_backend(config, set_, dry_run)
    found = backend.jobs.wait(job, timeout) if wait else backend.jobs.show(job)
    print_plans(backend)
    if backend.dry_run:
        return
    render_details({"job": found.name, "kind": found.kind, "name": found.display_name, "state": found.state,
                    "created": found.created_at, "output": found.output, "labels": dict(found.labels),
                    **{k: v for k, v in found.details.items() if v not in ("", None)}}, console)
    if found.error:
        console.print(f"[bold red]failed:[/] {_escaped(found.error)}", highlight=False, soft_wrap=True)
    if wait and found.state not in ("JOB_STATE_SUCCEEDED", "PIPELINE_STATE_SUCCEEDED"):
        raise CloudError(_failure(found, timeout))


def cancel_command(job: JobArg, config: ConfigOpt = None, set_: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Cancel a running job of this project (one without its labels is refused).

    Example: [bold]churn jobs cancel 1234567890[/]
    """
    _, backend = open_backend(config, set_, dry_run)
    print_outcome(backend, backend.jobs.cancel(job))


def _failure(job: Job, timeout: float) -> str:
    words = f"{job.kind.replace('_', ' ')} job {job.id}"
    if not job.done:
        return (f"{words} is still {job.state} after --timeout {timeout:.0f}s: run "
                f"`churn jobs show {job.id} --wait` again")
    if job.error:
        return f"{words} {job.state}: {job.error}"
    return f"{words} ended {job.state}, not succeeded"


def _escaped(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def register(app: typer.Typer) -> None:
    jobs_app.command("list")(list_command)
    jobs_app.command("show")(show_command)
    jobs_app.command("cancel")(cancel_command)
    app.add_typer(jobs_app, name="jobs")
