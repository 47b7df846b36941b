"""Serving commands: `churn serve`, `churn predict`, `churn logs export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import (
    ConfigOpt,
    DryRunOpt,
    ModelOpt,
    SetOpt,
    Target,
    TargetOpt,
    console,
    console_err,
    load,
    open_backend,
    print_plans,
)

logs_app = typer.Typer(help="The prediction log (every answered instance, SQLite).", no_args_is_help=True)
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="auto (NumPy fast path if it matches the SavedModel, else SavedModel), "
    "numpy or savedmodel.")]
VerifyOpt = Annotated[bool, typer.Option(
    "--verify", help="Check the NumPy engine against the SavedModel again at start (loads TensorFlow; "
    "export already checked it).")]


def serve_command(
    model: ModelOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default: serve.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: serve.port, 8080).")] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(
        "--allow-unauthenticated", help="Serve a non-loopback address without a bearer token.")] = False,
    engine: EngineOpt = "auto",
    verify: VerifyOpt = False,
    log_sync: Annotated[str, typer.Option(
        "--log-sync", help="normal: a 200 survives the server crashing; full: also a power cut "
        "(fsync per commit, slower).")] = "normal",
    access_log: Annotated[bool, typer.Option("--access-log", help="uvicorn access log on stderr.")] = False,
    limit_concurrency: Annotated[int | None, typer.Option(
        "--limit-concurrency", min=1, help="Most open connections; more get 503 at once "
        "(default: serve.limit_concurrency, 512).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Serve a model as Vertex AI's prebuilt TensorFlow container does, until Ctrl-C.

    Vertex routes: POST /v1/projects/P/locations/L/endpoints/E:predict (and :rawPredict),
    /v1/endpoints/E:predict; TF Serving routes: POST /v1/models/churn:predict with row
    "instances" or columnar "inputs" and "signature_name" (with_customer_id carries customerID).
    GET /health, /v1/models/churn, /v1/projects/P/locations/L/endpoints/E, /metrics.
    Bearer-token auth is on when the variable named by serve.auth_token_env is set.
    Example: [bold]CHURN_API_TOKEN=s3cret churn serve --model churn@champion --port 8080[/]
    """
    from pipeline.serving.server import ServeOptions, serve

    settings = load(config, set_)
    options = ServeOptions(ref=model or settings.serve.model, host=host or settings.serve.host,
                           port=port or settings.serve.port, engine=engine, verify=verify, log_sync=log_sync,
                           allow_unauthenticated=allow_unauthenticated, access_log=access_log,
                           limit_concurrency=limit_concurrency)
    serve(settings, options, announce=lambda line: console_err.print(line, highlight=False))


OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace the output file if it exists (refused otherwise).")]


def predict_command(
    input_path: Annotated[str, typer.Option("--input", help="Customer CSV (Telco schema; Churn optional); "
                                            "--target vertex: gs://... JSONL or bq://PROJECT.DATASET.TABLE.")],
    output: Annotated[str, typer.Option("--output", help="Output CSV: customerID, churn_probability, "
                                        "interval_lower, interval_upper, churn; --target vertex: a gs:// "
                                        "prefix or bq://PROJECT.DATASET.")],
    model: ModelOpt = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows scored per chunk (memory bound).")] = 50_000,
    engine: EngineOpt = "auto",
    overwrite: OverwriteOpt = False,
    target: TargetOpt = Target.local,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Score customers: a CSV here in chunks (constant memory, same validation as the server),
    or the whole customer base as a Vertex AI batch prediction job (--target vertex: machines
    and replicas from vertex.batch; each prediction keeps its customerID).

    Example: [bold]churn predict --input customers.csv --output scores.csv --model churn@champion[/]
    """
    from pipeline.backends.base import BatchPredictionRequest

    settings, backend = open_backend(config, set_, dry_run, target)
    request = BatchPredictionRequest(input=input_path, output=output, model_ref=model or settings.serve.model,
                                     chunk_rows=chunk_rows, engine=engine, overwrite=overwrite)
    result = backend.jobs.batch_predict(request)
    print_plans(backend)
    if backend.dry_run:
        return
    if result.job is None:
        console_err.print(f"scored {result.rows or 0:,} rows with {result.model}", highlight=False)
    else:
        console_err.print(f"submitted batch prediction job {result.job.display_name} with {result.model}: "
                          f"{result.job.details.get('where', result.output)}; follow it with "
                          f"`churn jobs show {result.job.id} --wait`", highlight=False, soft_wrap=True)
    print(result.output if result.job is None else result.job.name)


def logs_export_command(
    out: Annotated[Path, typer.Option("--out", help="Output file: .csv or .parquet.")],
    since: Annotated[str | None, typer.Option(help="From this time: ISO (2026-01-31T12:00Z) or age (30m, 1d).")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (same forms as --since).")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows read per chunk.")] = 50_000,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Export logged predictions (one column per feature plus metadata) for monitoring.

    Example: [bold]churn logs export --since 1d --out predictions.parquet[/]
    """
    from pipeline.serving.logexport import export_log
    from pipeline.serving.predlog import parse_time

    settings = load(config, set_)
    rows = export_log(settings.paths.prediction_log, out, parse_time(since) if since else None,
                      parse_time(until) if until else None, chunk_rows, overwrite)
    console.print(f"exported {rows:,} predictions from {settings.paths.prediction_log}", highlight=False)
    print(out)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("predict")(predict_command)
    logs_app.command("export")(logs_export_command)
    app.add_typer(logs_app, name="logs")
