"""Vertex AI commands: `churn undeploy`, `churn cleanup`, `churn alerts setup`,
`churn monitoring setup|status|delete`. They parse options and call pipeline.backends.vertex.

pipeline.backends.vertex is imported inside each command: the Vertex SDK takes seconds to import and
most `churn` invocations never need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from pipeline.cli.common import ConfigOpt, DryRunOpt, SetOpt, app, console, load
from pipeline.config import Config
from pipeline.errors import CloudError

alerts_app = typer.Typer(help="Cloud Monitoring alert policies on the Vertex AI endpoint.",
                         no_args_is_help=True)
monitoring_app = typer.Typer(
    help="Vertex AI Model Monitoring (training-serving skew and drift) on the endpoint.",
    no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(monitoring_app, name="monitoring")


def _vertex_config(config_path: Any, sets: list[str] | None, command: str) -> Config:
    config = load(config_path, sets)
    if config.backend != "vertex":
        raise CloudError(f"`churn {command}` needs backend: vertex, this config has backend: "
                         f"{config.backend}: pass --config configs/vertex.yaml")
    return config


def _run(step: Callable[..., dict[str, Any]], config: Config, dry_run: bool) -> None:
    from pipeline.backends.vertex.plan import print_result

    print_result(step(config, dry_run), console)


def _stop_local_endpoint(config: Config, dry_run: bool) -> None:
    """Local backend: `churn deploy` started `churn serve` in the background; stop it."""
    from pipeline.serving.local_endpoint import read_record, undeploy_local

    if dry_run:
        record = read_record(config)
        console.print(f"would stop local endpoint (pid {record['pid']})" if record
                      else "no local endpoint is running")
        return
    stopped = undeploy_local(config)
    console.print(f"stopped local endpoint {stopped['endpoint']} (pid {stopped['pid']})"
                  if stopped else "no local endpoint is running")


@app.command()
def undeploy(config_path: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False
             ) -> None:
    """Take the endpoint down: stop the local one, or undeploy every model from the Vertex AI
    endpoint and delete it.

    Vertex: the endpoint's monitoring job goes first (Vertex keeps a monitored endpoint).
    Local: stops the server `churn deploy` started in the background.

    Example: churn undeploy --config configs/vertex.yaml --dry-run
    """
    config = load(config_path, sets)
    if config.backend != "vertex":
        _stop_local_endpoint(config, dry_run)
        return
    from pipeline.backends.vertex.teardown import undeploy_from_vertex

    _run(undeploy_from_vertex, config, dry_run)


@app.command()
def cleanup(config_path: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False
            ) -> None:
    """Delete everything deployed that costs money: endpoints, monitoring, alerts.

    Vertex: every endpoint, monitoring job, alert policy and e-mail channel labelled
    managed-by=churn-pipeline; registered models and their gs:// artifacts are kept.
    Local: stops the background endpoint, like `churn undeploy`.

    Example: churn cleanup --config configs/vertex.yaml --dry-run
    """
    config = load(config_path, sets)
    if config.backend != "vertex":
        _stop_local_endpoint(config, dry_run)
        return
    from pipeline.backends.vertex.teardown import cleanup_vertex

    _run(cleanup_vertex, config, dry_run)


@alerts_app.command("setup")
def alerts_setup(config_path: ConfigOpt = None, sets: SetOpt = None, dry_run: DryRunOpt = False
                 ) -> None:
    """Create (or update) alert policies on the endpoint's p99 prediction latency and error
    rate, thresholds vertex.latency_alert_ms and vertex.error_rate_alert, e-mailing
    monitor.alert_emails.

    Example: churn alerts setup --config configs/vertex.yaml --set vertex.latency_alert_ms=300
    """
    from pipeline.backends.vertex.alert_policies import setup_alerts

    _run(setup_alerts, _vertex_config(config_path, sets, "alerts setup"), dry_run)


@monitoring_app.command("setup")
def monitoring_setup(config_path: ConfigOpt = None, sets: SetOpt = None,
                     dry_run: DryRunOpt = False) -> None:
    """Create the Model Monitoring job for the models deployed on the endpoint: skew against
    the training data (copied to gs://BUCKET/datasets/) and drift, per-feature thresholds from
    monitor.thresholds, every vertex.monitor_interval_hours, e-mails to monitor.alert_emails.

    Example: churn monitoring setup --config configs/vertex.yaml --dry-run
    """
    from pipeline.backends.vertex.model_monitoring import setup_model_monitoring

    _run(setup_model_monitoring, _vertex_config(config_path, sets, "monitoring setup"), dry_run)


@monitoring_app.command("status")
def monitoring_status_command(config_path: ConfigOpt = None, sets: SetOpt = None,
                              dry_run: DryRunOpt = False) -> None:
    """Show the monitoring job: state, schedule, monitored models, training data, e-mails.

    Example: churn monitoring status --config configs/vertex.yaml
    """
    from pipeline.backends.vertex.model_monitoring import monitoring_status

    _run(monitoring_status, _vertex_config(config_path, sets, "monitoring status"), dry_run)


@monitoring_app.command("delete")
def monitoring_delete(config_path: ConfigOpt = None, sets: SetOpt = None,
                      dry_run: DryRunOpt = False) -> None:
    """Delete the monitoring job(s) this project created.

    Example: churn monitoring delete --config configs/vertex.yaml
    """
    from pipeline.backends.vertex.model_monitoring import delete_model_monitoring

    _run(delete_model_monitoring, _vertex_config(config_path, sets, "monitoring delete"), dry_run)
