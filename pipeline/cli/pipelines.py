"""Pipeline and image commands: `churn pipeline compile|run|schedule|show` (the KFP pipeline,
here with kfp.local or on Vertex AI Pipelines) and `churn image push` (Cloud Build ->
Artifact Registry). kfp is imported only inside these commands."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, Target, console, load
from pipeline.config import Config

pipeline_app = typer.Typer(help="The whole pipeline as one KFP graph: compile it, run it (here or on "
                           "Vertex AI Pipelines), schedule a recurring retrain.", no_args_is_help=True)
SHORT = 60  # longest value a local run's table shows
image_app = typer.Typer(help="The container image that runs `churn` on Google's engines.", no_args_is_help=True)

TargetOpt = Annotated[Target | None, typer.Option(
    "--target", help="local (kfp.local on this machine) or vertex (Vertex AI Pipelines); default: the "
    "config's backend.")]
DataOpt = Annotated[str | None, typer.Option(
    "--data", help="Training CSV or gs://BUCKET/FILE.csv (default: data.path; vertex: a local file is "
    "copied to gs://BUCKET/datasets/<model_name>/).")]


def compile_command(
    out: Annotated[Path | None, typer.Option("--out", help="YAML to write (default: "
                                             "artifacts/pipeline/churn_pipeline.yaml).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline to KFP v2 YAML, offline (components in naming.image_uri's image).

    Example: [bold]churn pipeline compile --config configs/vertex.yaml[/]
    """
    from pipeline.orchestration.definition import compile_pipeline

    print(compile_pipeline(load(config, set_), out))


def run_command(
    target: TargetOpt = None,
    data: DataOpt = None,
    deploy: Annotated[bool, typer.Option("--deploy/--no-deploy", help="Deploy a promoted champion and set "
                                         "up monitoring (local: starts the background endpoint).")] = True,
    stop_endpoint: Annotated[bool, typer.Option("--stop-endpoint", help="Local: stop the endpoint the run "
                                                "deployed once it is over (`make pipeline-local`).")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Run validate -> train -> evaluate -> gate -> upload -> deploy -> monitoring setup.

    --target local runs every component here (kfp.local, SubprocessRunner) and prints what
    each produced; --target vertex submits a PipelineJob (labels, service account,
    gs://BUCKET/pipelines) and prints its name and console link.
    Example: [bold]churn pipeline run --target local --set train.epochs=3[/]
    """
    from pipeline.orchestration.runner import run_pipeline

    settings = load(config, set_)
    result = run_pipeline(settings, _value(target), data, deploy, dry_run, stop_endpoint)
    if result["target"] == "local":
        _print_local(result["run"], stop_endpoint)
        return
    if _print_plan(settings, result):
        return
    console.print(f"submitted [bold]{result['job']}[/] ({result['state']}): {result['console']}",
                  highlight=False, soft_wrap=True)
    print(result["job"])


def schedule_command(
    cron: Annotated[str, typer.Option("--cron", help='When to retrain (UTC unless "TZ=Zone ..."), e.g. '
                                      '"0 3 * * 1" for Mondays at 03:00.')],
    target: TargetOpt = None,
    data: DataOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Delete our existing schedule first.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Schedule a recurring retrain on Vertex AI Pipelines (one run at a time).

    Example: [bold]churn pipeline schedule --cron "0 3 * * 1" --config configs/vertex.yaml --dry-run[/]
    """
    from pipeline.orchestration.runner import schedule_pipeline

    settings = load(config, set_)
    result = schedule_pipeline(settings, _value(target), cron, data, replace, dry_run)
    if _print_plan(settings, result):
        return
    console.print(f"schedule [bold]{result['schedule']}[/] ({result['state']}) runs the pipeline at "
                  f"'{result['cron']}'", highlight=False, soft_wrap=True)
    print(result["schedule"])


def show_command(job: Annotated[str, typer.Argument(help="Pipeline job id or full resource name.")],
                 config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """The state of a Vertex AI pipeline job and of each of its tasks.

    Example: [bold]churn pipeline show churn-pipeline-20261201-030000-ab12[/]
    """
    from rich.table import Table

    from pipeline.backends.vertex.pipeline_jobs import pipeline_job_state

    state = pipeline_job_state(load(config, set_), job)
    table = Table(title=f"{state['job']}: {state['state']}")
    table.add_column("task")
    table.add_column("state")
    for task, task_state in state["tasks"].items():
        table.add_row(task, task_state)
    console.print(table)
    if state["error"]:
        console.print(f"[bold red]error:[/] {state['error']}", highlight=False, soft_wrap=True)


def push_command(
    wait: Annotated[bool, typer.Option("--wait", help="Follow the build until it ends.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Build the image from ./Dockerfile with Cloud Build and push it to Artifact Registry.

    The image is vertex.image, or REGION-docker.pkg.dev/PROJECT/vertex.image_repository/churn-pipeline:VERSION;
    the repository is created (labelled) when missing.
    Example: [bold]churn image push --config configs/vertex.yaml --dry-run[/]
    """
    from pipeline.backends.vertex.cloud_build import push_image

    settings = load(config, set_)
    result = push_image(settings, dry_run, Path.cwd(), wait)
    if _print_plan(settings, result):
        return
    console.print(f"Cloud Build {result['build']} ({result['status']}) builds {result['image']}: "
                  f"{result['log_url']}", highlight=False, soft_wrap=True)
    print(result["image"])


def uri_command(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the image's URI (what training jobs and pipeline components run)."""
    from pipeline.backends.vertex.naming import image_uri

    print(image_uri(load(config, set_)))


def _value(target: Target | None) -> str | None:
    return target.value if target is not None else None


def _print_plan(config: Config, result: Mapping[str, Any]) -> bool:
    """A dry run's plan (and plan folder), as every vertex command prints it; True if it was one."""
    from pipeline.cli.common import print_dry_run

    if not result.get("dry_run"):
        for note in result["plan"]["notes"]:
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
        return False
    print_dry_run([result["plan"]], config.paths.artifacts)
    return True


def _print_local(run: Any, stopped: bool) -> None:
    from rich.table import Table

    table = Table(title=f"Local pipeline run ({run.seconds:.0f} s): {run.folder}")
    table.add_column("task")
    table.add_column("artifact")
    table.add_column("what it says", overflow="fold")
    for task, artifacts in run.tasks.items():
        for name, summary in artifacts.items():
            if name == "executor_output.json":
                continue
            # The short values; summary.json in the artifact's folder has them all.
            text = ", ".join(f"{k}={v}" for k, v in summary.items()
                             if not isinstance(v, dict) and len(str(v)) <= SHORT) \
                if isinstance(summary, dict) else str(summary)
            table.add_row(task, name, text)
    console.print(table)
    deployed = run.tasks.get("deploy-model", {}).get("deployment", {})
    if isinstance(deployed, dict) and deployed.get("deployed") and not stopped:
        console.print(f"the local endpoint serves {deployed['model']} at {deployed['url']}: `churn undeploy` "
                      "stops it", highlight=False, soft_wrap=True)
    print(run.folder)


def register(app: typer.Typer) -> None:
    pipeline_app.command("compile")(compile_command)
    pipeline_app.command("run")(run_command)
    pipeline_app.command("schedule")(schedule_command)
    pipeline_app.command("show")(show_command)
    image_app.command("push")(push_command)
    image_app.command("uri")(uri_command)
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(image_app, name="image")
