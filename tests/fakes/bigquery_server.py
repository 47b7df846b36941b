"""A fake BigQuery v2 REST API holding one Vertex request-response logging table.

It answers what google-cloud-bigquery's Client.query_and_wait sends for the request-log
query: jobs.query (POST /bigquery/v2/projects/P/queries), then, when the rows run over one
page, jobs.get and jobs.getQueryResults (GET .../queries/JOB?pageToken=...). It does not parse
SQL: it checks the query names the table, then filters the rows with the query's named
parameters (since, until: TIMESTAMP; endpoint_suffix: STRING), in logging_time order.
Rows follow the v1 request-response logging schema (see request_log.py).

It also holds training tables (`add_table`): tables.get and tabledata.list (GET .../tables/T
and .../tables/T/data, paged by maxResults/pageToken) serve Client.list_rows, and a query
naming one of them in backticks (optionally ending in LIMIT n) answers its rows, so
RowIterator.to_arrow_iterable() reads them over REST, without the Storage Read API.
"""

from __future__ import annotations

import datetime as dt
import json
from itertools import count
from typing import Any

from tests.fakes.rest_fake import ApiError, RecordingRestServer

BQ = "/bigquery/v2/projects/(?P<project>[^/]+)"
SCHEMA = {"fields": [
    {"name": "endpoint", "type": "STRING", "mode": "NULLABLE"},
    {"name": "deployed_model_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "logging_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "request_id", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "request_payload", "type": "STRING", "mode": "REPEATED"},
    {"name": "response_payload", "type": "STRING", "mode": "REPEATED"},
]}


class FakeBigQueryServer(RecordingRestServer):
    """`table` is the project.dataset.table the queries must read."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.rows: list[dict[str, Any]] = []
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._formats: dict[str, bool] = {}
        self._ids = count(1)
        self.tables: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self._job_schemas: dict[str, dict[str, Any]] = {}
        super().__init__()

    def add_table(self, table_id: str, frame: Any) -> None:
        """Serve a pandas frame as the table project.dataset.table (STRING, INT64, FLOAT64
        columns by dtype; NaN as NULL), rows in the frame's order."""
        import pandas as pd

        fields = []
        for name in frame.columns:
            kind = frame[name].dtype.kind
            fields.append({"name": name, "type": "INT64" if kind in "iu" else "FLOAT64" if kind == "f" else "STRING",
                           "mode": "NULLABLE"})
        rows = [{"f": [{"v": None if pd.isna(v) else str(v)} for v in record]}
                for record in frame.itertuples(index=False, name=None)]
        self.tables[table_id] = ({"fields": fields}, rows)

    def routes(self) -> list[tuple[str, str, str, Any]]:
        return [
            ("POST", rf"{BQ}/queries", "query", self._query),
            ("GET", rf"{BQ}/queries/(?P<job>[^/]+)", "getQueryResults", self._results_page),
            ("GET", rf"{BQ}/jobs/(?P<job>[^/]+)", "getJob", self._get_job),
            ("GET", rf"{BQ}/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)", "getTable", self._get_table),
            ("GET", rf"{BQ}/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)/data", "listTableData",
             self._list_table_data),
        ]

    def log_request(self, endpoint: str, deployed_model_id: str, instances: list[Any],
                    predictions: list[Any], when: dt.datetime | None = None) -> None:
        """Log one request as Vertex would: one JSON string per instance and prediction."""
        self.rows.append({
            "endpoint": endpoint, "deployed_model_id": deployed_model_id,
            "logging_time": when or dt.datetime.now(dt.timezone.utc),
            "request_id": str(next(self._ids)),
            "request_payload": [json.dumps(i) for i in instances],
            "response_payload": [json.dumps(p) for p in predictions]})

    # ---- handlers --------------------------------------------------------------------
    def _table(self, p: dict[str, str]) -> tuple[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
        table_id = f"{p['project']}.{p['dataset']}.{p['table']}"
        if table_id not in self.tables:
            raise ApiError(404, f"Not found: Table {table_id}")
        return table_id, self.tables[table_id]

    def _get_table(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        table_id, (schema, rows) = self._table(p)
        return {"kind": "bigquery#table", "id": table_id.replace(".", ":", 1),
                "tableReference": {"projectId": p["project"], "datasetId": p["dataset"], "tableId": p["table"]},
                "schema": schema, "numRows": str(len(rows)), "type": "TABLE"}

    def _list_table_data(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        _, (_, rows) = self._table(p)
        start = int(q.get("pageToken", q.get("startIndex", ["0"]))[0])
        size = int(q.get("maxResults", [len(rows) or 1])[0])
        answer: dict[str, Any] = {"kind": "bigquery#tableDataList", "totalRows": str(len(rows)),
                                  "rows": rows[start:start + size]}
        if start + size < len(rows):
            answer["pageToken"] = str(start + size)
        return answer

    def _training_query(self, p: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        import re

        text = body.get("query", "")
        named = [t for t in self.tables if f"`{t}`" in text]
        if not named:
            return None
        schema, rows = self.tables[named[0]]
        limit = re.search(r"\bLIMIT\s+(\d+)\s*$", text, re.IGNORECASE)
        job = f"job_{next(self._ids)}"
        self._results[job] = rows[: int(limit.group(1))] if limit else rows
        self._job_schemas[job] = schema
        return self._page(p["project"], job, 0, body.get("maxResults"), "bigquery#queryResponse")

    def _query(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        training = self._training_query(p, body)
        if training is not None:
            return training
        if f"`{self.table}`" not in body.get("query", ""):
            raise ApiError(404, f"Not found: Table {body.get('query', '')[:200]}")
        params = {item["name"]: item["parameterValue"]["value"]
                  for item in body.get("queryParameters", [])}
        job = f"job_{next(self._ids)}"
        self._results[job] = self._select(params)
        int64 = body.get("formatOptions", {}).get("useInt64Timestamp", False)
        self._formats[job] = int64
        return self._page(p["project"], job, 0, body.get("maxResults"), "bigquery#queryResponse")

    def _results_page(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        start = int(q.get("pageToken", ["0"])[0])
        size = q.get("maxResults", [None])[0]
        self._formats[p["job"]] = q.get("formatOptions.useInt64Timestamp", [""])[0] == "True"
        return self._page(p["project"], p["job"], start, size, "bigquery#getQueryResultsResponse")

    def _get_job(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        if p["job"] not in self._results:
            raise ApiError(404, f"Not found: Job {p['job']}")
        return {"kind": "bigquery#job", "id": f"{p['project']}:{p['job']}",
                "jobReference": {"projectId": p["project"], "jobId": p["job"], "location": "US"},
                "configuration": {"query": {"query": "", "useLegacySql": False}},
                "status": {"state": "DONE"},
                "statistics": {"query": {"statementType": "SELECT"}}}

    # ---- helpers ---------------------------------------------------------------------
    def _select(self, params: dict[str, str]) -> list[dict[str, Any]]:
        since = _parse_time(params.get("since"))
        until = _parse_time(params.get("until"))
        suffix = params.get("endpoint_suffix")
        kept = [r for r in self.rows
                if (since is None or r["logging_time"] >= since)
                and (until is None or r["logging_time"] < until)
                and (suffix is None or r["endpoint"].endswith(suffix))]
        return sorted(kept, key=lambda r: (r["logging_time"], int(r["request_id"])))

    def _page(self, project: str, job: str, start: int, size: Any, kind: str) -> dict[str, Any]:
        if job not in self._results:
            raise ApiError(404, f"Not found: Job {job}")
        rows = self._results[job]
        end = len(rows) if size is None else start + int(size)
        encoded = (rows[start:end] if job in self._job_schemas
                   else [self._encode(r, self._formats.get(job, False)) for r in rows[start:end]])
        answer: dict[str, Any] = {
            "kind": kind, "schema": self._job_schemas.get(job, SCHEMA), "jobComplete": True,
            "totalRows": str(len(rows)), "jobReference": {"projectId": project, "jobId": job, "location": "US"},
            "rows": encoded}
        if end < len(rows):
            answer["pageToken"] = str(end)
        return answer

    @staticmethod
    def _encode(row: dict[str, Any], int64_timestamps: bool) -> dict[str, Any]:
        seconds = row["logging_time"].timestamp()
        stamp = str(int(round(seconds * 1_000_000))) if int64_timestamps else repr(seconds)
        return {"f": [{"v": row["endpoint"]}, {"v": row["deployed_model_id"]}, {"v": stamp},
                      {"v": row["request_id"]},
                      {"v": [{"v": s} for s in row["request_payload"]]},
                      {"v": [{"v": s} for s in row["response_payload"]]}]}


def _parse_time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text.replace(" UTC", "+00:00").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
