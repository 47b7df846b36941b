"""Monitoring and retraining commands: monitor, simulate, retrain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ConfigOpt, SetOpt, app, console, load


@app.command("monitor")
def monitor_command(
    model: Annotated[str | None, typer.Option("--model", help="REF: churn@champion, churn@3 or a run dir.")] = None,
    current: Annotated[Path | None, typer.Option("--current", help="CSV of current (serving) data.")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="CSV to measure skew against instead of a model's training baseline.")] = None,
    from_log: Annotated[bool, typer.Option("--from-log", help="Use the prediction log instead of a CSV.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="With --from-log: ISO time or age (12h, 1d).")] = None,
    window: Annotated[str | None, typer.Option("--window", help="Window length (default monitor.window).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV of customerID,Churn that arrived.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output dir (default artifacts/monitoring/<ts>).")] = None,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 1 when a threshold is crossed.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Skew/drift of current data against the model's training baseline, or against any
    --reference CSV (Vertex's statistics, computed as TFDV does).

    Writes DIR/drift.json and DIR/report.html; alerts when a feature crosses its threshold.
    Example: [bold]churn monitor --from-log --since 1h --labels artifacts/simulations/latest/labels.csv[/]
    Example: [bold]churn monitor --reference data/sample/customer_churn.csv --current new.csv[/]
    """
    from pipeline.errors import MonitoringError
    from pipeline.monitoring.monitor import MonitorRequest, parse_window, run_monitor
    from pipeline.serving.predlog import parse_time

    if model is not None and reference is not None:
        raise MonitoringError("choose one baseline: --model REF (its training data) or --reference CSV")
    settings = load(config, set_)
    request = MonitorRequest(model_ref=model or settings.serve.model, current=current, from_log=from_log,
                             since=parse_time(since) if since else None,
                             window=parse_window(window or settings.monitor.window), labels=labels, out=out,
                             reference=reference)
    with console.status("Computing skew and drift"):
        report = run_monitor(settings, request)
    _print_drift(report)
    print(Path(report["report"]).parent)
    if fail_on_drift and report["drifted_features"]:
        raise typer.Exit(1)


def _print_drift(report: dict) -> None:
    against = (f"reference {report['reference']}" if report.get("reference")
               else f"training: {report['model']} v{report['model_version']}")
    table = Table(title=f"Skew vs {against} ({report['rows']:,} rows)")
    for column in ("feature", "statistic", "value", "threshold", "drifted"):
        table.add_column(column, justify="right" if column in {"value", "threshold"} else "left")
    ranked = sorted(report["features"].items(), key=lambda item: -(item[1]["value"] or 0))
    for name, feature in ranked:
        value = "n/a" if feature["value"] is None else f"{feature['value']:.4f}"
        flag = "[bold red]DRIFT[/]" if feature["drifted"] else "[green]ok[/]"
        table.add_row(name, feature["statistic"], value, f"{feature['threshold']:.2f}", flag)
    console.print(table)
    if report["status"] != "ok":
        console.print(f"[yellow]not enough data:[/] {report['rows']} rows (monitor.min_rows)")
    performance = report.get("performance")
    if performance and performance["status"] == "ok":
        m = performance["metrics"]
        console.print(f"live performance on {performance['rows']:,} labelled rows: ROC-AUC {m['roc_auc']:.4f}, "
                      f"Brier {m['brier']:.4f}, ECE {performance['calibration']['expected_calibration_error']:.3f}")
    if report.get("alert"):
        console.print(f"[bold red]alert:[/] {report['alert']['text']}")


@app.command("simulate")
def simulate_command(
    drift: Annotated[str, typer.Option(
        "--drift", help="Shifted features, comma-separated: contract,fiber,tenure,payment,senior,charges.")] = "",
    rows: Annotated[int, typer.Option("--rows", min=1, help="Customers to send.")] = 1000,
    url: Annotated[str | None, typer.Option("--url", help="Endpoint base URL (default: the local endpoint).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Send generated customers, some features shifted, to the local endpoint (loopback only).

    Ground truth goes to artifacts/simulations/<ts>/labels.csv for `churn monitor --labels`.
    Example: [bold]churn simulate --drift contract,fiber --rows 2000[/]
    """
    from pipeline.progress import make_progress
    from pipeline.simulate import parse_shifts, simulate

    settings = load(config, set_)
    target = url or f"http://{settings.serve.host}:{settings.serve.port}"
    shifts = parse_shifts(drift)
    with make_progress() as bar:
        task = bar.add_task("Sending requests", total=rows, status="")
        result = simulate(target, settings.serve.endpoint, shifts, rows,
                          settings.paths.artifacts / "simulations", seed,
                          token=os.environ.get(settings.serve.auth_token_env),
                          on_batch=lambda n: bar.update(task, advance=n))
    console.print(f"sent {result.sent:,} of {result.rows:,} customers in {result.seconds:.1f}s "
                  f"({result.failed} failed batches); labels: {result.labels_csv}")
    print(result.labelled_csv.parent)


@app.command("retrain")
def retrain_command(
    data: Annotated[Path | None, typer.Option("--data", help="Newly labelled CSV (Telco schema).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train a challenger on old + new data; promote it to champion only if it is better.

    Both models are judged on the same recent labelled holdout; the decision record is written
    to artifacts/retrain/<ts>/decision.json. Vertex mode also uploads and shifts traffic.
    Example: [bold]churn retrain --data artifacts/simulations/20261125-200000/labelled.csv[/]
    """
    from pipeline.retrain import retrain

    settings = load(config, set_)
    decision = retrain(settings, data)
    table = Table(title=f"Champion v{decision['champion_version']} vs challenger v{decision['challenger_version']} "
                        f"on {decision['holdout_rows']:,} holdout rows")
    table.add_column("metric")
    table.add_column("champion", justify="right")
    table.add_column("challenger", justify="right")
    for metric, value in decision["metrics"]["champion"].items():
        table.add_row(metric, f"{value:.4f}", f"{decision['metrics']['challenger'][metric]:.4f}")
    console.print(table)
    verdict = "[bold green]PROMOTED[/]" if decision["promoted"] else "[bold yellow]KEPT CHAMPION[/]"
    console.print(f"{verdict}: {decision['reason']}")
    if settings.backend == "vertex":
        _vertex_rollout(settings, decision)
    print(decision["record"])


def _vertex_rollout(settings, decision: dict) -> None:
    from pipeline.cloud.endpoints import deploy_to_vertex
    from pipeline.cloud.plan import print_result
    from pipeline.cloud.registry import upload_run_to_vertex

    aliases = ["challenger"] + (["champion"] if decision["promoted"] else [])
    print_result(upload_run_to_vertex(settings, Path(decision["challenger_run"]), aliases, False), console)
    if decision["promoted"]:
        canary = settings.retrain.canary_percentage or None
        print_result(deploy_to_vertex(settings, f"{settings.registry.model_name}@champion", canary, False), console)
