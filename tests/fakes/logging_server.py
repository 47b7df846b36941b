"""A fake of Cloud Logging's REST entries:list, enough for reading a failed job's logs.

`add(job_id, message, severity)` logs a line as a custom job's replica would (resource.type
"ml_job", labels.job_id); the filter understands the clauses the pipeline sends: resource.type,
resource.labels.KEY equality and severity>=LEVEL, joined by AND; orderBy "timestamp desc".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fakes.rest_fake import ApiError, RecordingRestServer

SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]


class FakeLoggingServer(RecordingRestServer):
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._clock = datetime(2026, 1, 1, tzinfo=timezone.utc)
        super().__init__()

    def routes(self) -> list[tuple[str, str, str, Any]]:
        return [("POST", r"/v2/entries:list", "listEntries", self._list)]

    def add(self, job_id: str, message: str, severity: str = "ERROR", task: str = "workerpool0-0") -> None:
        self._clock += timedelta(seconds=1)
        self.entries.append({
            "logName": "projects/test-project/logs/workerpool0-0", "severity": severity,
            "timestamp": self._clock.isoformat().replace("+00:00", "Z"), "textPayload": message,
            "resource": {"type": "ml_job", "labels": {"job_id": job_id, "task_name": task,
                                                      "project_id": "test-project"}}})

    def _list(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("resourceNames"):
            raise ApiError(400, "resourceNames is required")
        found = [e for e in self.entries if _matches(e, body.get("filter", ""))]
        if body.get("orderBy", "timestamp asc").endswith("desc"):
            found = list(reversed(found))
        return {"entries": found[: int(body.get("pageSize") or 50)]}


def _matches(entry: dict[str, Any], text: str) -> bool:
    for clause in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        severity = re.fullmatch(r"severity\s*>=\s*(\w+)", clause)
        if severity:
            if SEVERITIES.index(entry["severity"]) < SEVERITIES.index(severity.group(1)):
                return False
            continue
        match = re.fullmatch(r'([\w.]+)\s*=\s*"([^"]*)"', clause)
        if not match:
            raise ApiError(400, f"unsupported filter clause {clause!r}")
        value: Any = entry
        for part in match.group(1).split("."):
            value = value.get(part, {}) if isinstance(value, dict) else {}
        if value != match.group(2):
            return False
    return True
