"""Drift alerts: a record on disk always; a Slack-compatible webhook and e-mail if configured."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pipeline.config import MonitorConfig
from pipeline.core import atomic

log = logging.getLogger(__name__)
TIMEOUT_S = 10


def alert_text(report: dict[str, Any]) -> str:
    """One readable paragraph: which features drifted, by how much."""
    drifted = report["drifted_features"]
    details = ", ".join(
        f"{name} ({report['features'][name]['statistic']} {report['features'][name]['value']:.3f} "
        f"> {report['features'][name]['threshold']:.2f})" for name in drifted)
    against = (f"data skewed from reference {report['reference']}" if report.get("reference")
               else f"churn model {report.get('model', '')} (version {report.get('model_version', '?')})")
    return (f":rotating_light: {against}: "
            f"drift in {len(drifted)} feature(s) over {report['rows']:,} rows: {details}. "
            f"Report: {report.get('report', '')}")


def send_alerts(report: dict[str, Any], out_dir: Path, config: MonitorConfig, log_path: Path) -> dict[str, Any]:
    """Write alert.json, append to the alert log, and notify the configured channels."""
    text = alert_text(report)
    record = {"generated_at": report.get("generated_at"), "model": report.get("model"),
              "drifted_features": report["drifted_features"], "text": text, "channels": {}}
    if config.webhook_url:
        record["channels"]["webhook"] = post_webhook(config.webhook_url, text, report)
    if config.smtp_host and config.alert_emails:
        record["channels"]["email"] = send_email(config, text)
    atomic.write_json(Path(out_dir) / "alert.json", record)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    return record


def post_webhook(url: str, text: str, report: dict[str, Any]) -> str:
    """POST {"text": ...} (what Slack incoming webhooks take) plus the drifted features."""
    payload = {"text": text, "drifted_features": report["drifted_features"], "rows": report["rows"]}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return f"sent ({answer.status})"
    except (urllib.error.URLError, OSError) as exc:
        log.warning("drift webhook failed: %s", exc)
        return f"failed: {exc}"


def send_email(config: MonitorConfig, text: str) -> str:
    """Plain-text e-mail to every configured recipient."""
    message = EmailMessage()
    message["Subject"] = "[churn pipeline] feature drift detected"
    message["From"] = config.alert_sender
    message["To"] = ", ".join(config.alert_emails)
    message.set_content(text)
    try:
        with smtplib.SMTP(config.smtp_host or "localhost", config.smtp_port, timeout=TIMEOUT_S) as smtp:
            smtp.send_message(message)
        return f"sent to {len(config.alert_emails)} recipient(s)"
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("drift e-mail failed: %s", exc)
        return f"failed: {exc}"
