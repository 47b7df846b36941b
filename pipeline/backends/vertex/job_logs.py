"""Why a job failed, in one line: the job's own error and the last error its replicas logged.

A custom job's replicas log to Cloud Logging (resource.type="ml_job", labels.job_id); stderr
lines arrive as severity ERROR. The entries are read with Cloud Logging's REST entries:list
and the SDK's credentials (vertex.logging_api_endpoint points tests at a fake). `churn`
itself prints its mistakes as "error: ..." lines; otherwise a traceback's last line names the
exception; otherwise the newest error entry is used.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pipeline.backends.vertex.api_errors import one_line
from pipeline.config import Config

log = logging.getLogger(__name__)

LOGGING_HOST = "https://logging.googleapis.com"
ENTRIES = 50
_CHURN_ERROR = re.compile(r"^\s*error:\s*(.+)$", re.IGNORECASE | re.DOTALL)
_EXCEPTION = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit)\b.*)$", re.DOTALL)


def log_filter(job_id: str) -> str:
    return f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" AND severity>=ERROR'


def error_entries(config: Config, credentials: Any, job_id: str) -> list[str]:
    """The messages of the job's newest error entries, newest first."""
    from google.auth.transport.requests import AuthorizedSession

    host = config.vertex.logging_api_endpoint or LOGGING_HOST
    base = host if host.startswith("http") else f"https://{host}"
    body: dict[str, Any] = {"resourceNames": [f"projects/{config.vertex.project}"], "filter": log_filter(job_id),
            "orderBy": "timestamp desc", "pageSize": ENTRIES}
    answer = AuthorizedSession(credentials).post(f"{base}/v2/entries:list", json=body, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:120]}")
    messages = []
    for entry in answer.json().get("entries", []):
        payload = entry.get("jsonPayload") or {}
        text = entry.get("textPayload") or payload.get("message") or ""
        if str(text).strip():
            messages.append(str(text))
    return messages


def telling_line(messages: list[str]) -> str:
    """The line that says most about the failure (messages newest first)."""
    for pattern in (_CHURN_ERROR, _EXCEPTION):
        for message in messages:
            for line in reversed(message.strip().splitlines()):
                match = pattern.match(line)
                if match:
                    return one_line(match.group(1) if pattern is _CHURN_ERROR else match.group(1))
    return one_line(messages[0]) if messages else ""


def failure_line(config: Config, credentials: Any, kind: Any, proto: Any) -> str:
    """'<job error>; last error logged: <line>', plus where the full log is (custom jobs)."""
    job_id = proto.name.rsplit("/", 1)[-1]
    reason = one_line(proto.error.message or "no error message", 200)
    if kind.kind != "custom":
        return reason
    try:
        line = telling_line(error_entries(config, credentials, job_id))
    except Exception as exc:  # noqa: BLE001 - the job's own error still says something
        log.debug("reading the logs of %s failed", proto.name, exc_info=True)
        return f"{reason} (its logs could not be read: {one_line(exc, 100)})"
    logs = (f"gcloud ai custom-jobs stream-logs {job_id} --project={config.vertex.project} "
            f"--region={config.vertex.region}")
    if not line:
        return f"{reason} (no error in its logs; all of them: {logs})"
    return f"{reason}; last error logged: {line} (all logs: {logs})"
