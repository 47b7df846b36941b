"""Monitoring commands: `churn monitor`, `churn simulate`, `churn monitoring setup|status|delete`,
`churn alerts setup`, on the configured backend (the local prediction log and drift checks, or
Vertex AI Model Monitoring and Cloud Monitoring alert policies)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, console, load, open_backend, print_outcome
from pipeline.core.records import DriftReport

monitoring_app = typer.Typer(
    help="Scheduled skew/drift monitoring of the endpoint (Vertex AI Model Monitoring, or a local "
    "schedule for `churn monitor --from-log`).", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts on the endpoint's latency, errors and drift.", no_args_is_help=True)


def monitor_command(
    model: Annotated[str | None, typer.Option("--model", help="REF: churn@champion, churn@3 or a run dir.")] = None,
    current: Annotated[Path | None, typer.Option("--current", help="CSV of current (serving) data.")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="CSV to measure skew against instead of a model's training baseline.")] = None,
    from_log: Annotated[bool, typer.Option("--from-log", help="Use the prediction log instead of a CSV.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="With --from-log: ISO time or age (12h, 1d).")] = None,
    window: Annotated[str | None, typer.Option("--window", help="Window length (default monitor.window).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV of customerID,Churn that arrived.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="New or empty output folder (default artifacts/monitoring/<ts>); one holding anything "
        "is refused, never emptied.")] = None,
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
    settings, backend = open_backend(config, set_)
    request = MonitorRequest(model_ref=model or settings.serve.model, current=current, from_log=from_log,
                             since=parse_time(since) if since else None,
                             window=parse_window(window or settings.monitor.window), labels=labels, out=out,
                             reference=reference)
    with console.status("Computing skew and drift"):
        report = run_monitor(settings, backend, request)
    _print_drift(DriftReport.from_dict(report))
    print(Path(report["report"]).parent)
    if fail_on_drift and report["drifted_features"]:
        raise typer.Exit(1)


def _print_drift(report: DriftReport) -> None:
    against = (f"reference {report.reference}" if report.reference
               else f"training: {report.model} v{report.model_version}")
    table = Table(title=f"Skew vs {against} ({report.rows:,} rows)")
    for column in ("feature", "statistic", "value", "threshold", "drifted"):
        table.add_column(column, justify="right" if column in {"value", "threshold"} else "left")
    ranked = sorted(report.features.items(), key=lambda item: -(item[1].value or 0))
    for name, feature in ranked:
        value = "n/a" if feature.value is None else f"{feature.value:.4f}"
        flag = "[bold red]DRIFT[/]" if feature.drifted else "[green]ok[/]"
        table.add_row(name, feature.statistic, value, f"{feature.threshold:.2f}", flag)
    console.print(table)
    if report.status != "ok":
        console.print(f"[yellow]not enough data:[/] {report.rows} rows (monitor.min_rows)")
    performance = report.sections.get("performance")
    if performance and performance["status"] == "ok":
        m = performance["metrics"]
        console.print(f"live performance on {performance['rows']:,} labelled rows: ROC-AUC {m['roc_auc']:.4f}, "
                      f"Brier {m['brier']:.4f}, ECE {performance['calibration']['expected_calibration_error']:.3f}")
    if report.sections.get("alert"):
        console.print(f"[bold red]alert:[/] {report.sections['alert']['text']}")


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
    from pipeline.core.progress import make_progress
    from pipeline.tools.simulate import parse_shifts, simulate

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


def monitoring_setup(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Set up scheduled monitoring of the endpoint's traffic.

    Vertex: a Model Monitoring job for the deployed models: skew against the training data
    (copied to gs://BUCKET/datasets/) and drift, thresholds from monitor.thresholds, every
    vertex.monitor_interval_hours, e-mails to monitor.alert_emails.
    Local: records the schedule and prints the cron line that runs `churn monitor --from-log`.

    Example: churn monitoring setup --config configs/vertex.yaml --dry-run
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.monitoring.setup())


def monitoring_status(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Show the monitoring job (state, schedule, monitored models) or the local schedule and the
    newest drift check.

    Example: churn monitoring status --config configs/vertex.yaml
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.monitoring.status())


def monitoring_delete(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Delete the monitoring job(s) (or the local schedule) this project created.

    Example: churn monitoring delete --config configs/vertex.yaml
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.monitoring.delete())


def alerts_setup(config: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False) -> None:
    """Alerts on the endpoint. Vertex: create (or update) Cloud Monitoring alert policies on p99
    prediction latency and error rate (vertex.latency_alert_ms, vertex.error_rate_alert),
    e-mailing monitor.alert_emails. Local: shows where drift alerts go (monitor.webhook_url,
    monitor.alert_emails) and that latency and errors are on /metrics for Prometheus.

    Example: churn alerts setup --config configs/vertex.yaml --set vertex.latency_alert_ms=300
    """
    _, backend = open_backend(config, sets, dry_run)
    print_outcome(backend, backend.monitoring.setup_alerts())


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor_command)
    app.command("simulate")(simulate_command)
    monitoring_app.command("setup")(monitoring_setup)
    monitoring_app.command("status")(monitoring_status)
    monitoring_app.command("delete")(monitoring_delete)
    alerts_app.command("setup")(alerts_setup)
    app.add_typer(monitoring_app, name="monitoring")
    app.add_typer(alerts_app, name="alerts")
