"""Reads a Vertex endpoint's request-response log (BigQuery) as prediction-log frames.

Vertex request-response logging (endpoint created with enable_request_response_logging and a
bq:// destination, see endpoints.endpoint_create_args) writes one row per sampled request to
the table with the columns
    endpoint STRING, deployed_model_id STRING, logging_time TIMESTAMP, request_id NUMERIC,
    request_payload STRING REPEATED (one JSON instance each),
    response_payload STRING REPEATED (one JSON prediction each)
(schema v1 of "Online prediction logging", cloud.google.com/vertex-ai/docs/predictions/
online-prediction-logging; the table is named request_response_logging unless given, see
PredictRequestResponseLoggingConfig.bigquery_destination; elastic/beats#46383 reads the same
table by endpoint and logging_time). Each logged instance becomes one row with the columns of
pipeline.serving.predlog.iter_log_frames, so monitoring reads both logs the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.plan import PlanStep
from pipeline.config import Config
from pipeline.errors import CloudError
from pipeline.serving.predlog import FRAME_COLUMNS, META_COLUMNS, utc_timestamp
from pipeline.training import schema

log = logging.getLogger(__name__)

_TABLE = re.compile(r"^bq://([a-z][a-z0-9-]{4,28}[a-z0-9])\.(\w{1,1024})\.([\w$-]{1,1024})$")
_SCORES = ("churn_probability", "interval_lower", "interval_upper", "churn")


def table_id(uri: str | None) -> str:
    """project.dataset.table from bq://project.dataset.table."""
    match = _TABLE.match(uri or "")
    if not match:
        shown = (uri or "")[:120]
        raise CloudError(f"vertex.logging_bq_table '{shown}' is not bq://PROJECT.DATASET.TABLE: set "
                         "it to the endpoint's request-response logging table")
    return ".".join(match.groups())


def log_query(table: str, since: dt.datetime | None, until: dt.datetime | None,
              endpoint_suffix: str | None) -> tuple[str, dict[str, Any]]:
    """The SQL and its named parameters (TIMESTAMP since/until, STRING endpoint_suffix)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if endpoint_suffix:
        where.append("ENDS_WITH(endpoint, @endpoint_suffix)")
        params["endpoint_suffix"] = endpoint_suffix
    if since is not None:
        where.append("logging_time >= @since")
        params["since"] = since.astimezone(dt.timezone.utc)
    if until is not None:
        where.append("logging_time < @until")
        params["until"] = until.astimezone(dt.timezone.utc)
    sql = ("SELECT endpoint, deployed_model_id, logging_time, request_id, request_payload, "
           f"response_payload FROM `{table}`"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY logging_time, request_id")
    return sql, params


def query_step(config: Config, table: str, sql: str) -> PlanStep:
    return PlanStep("Read the endpoint's request-response log",
                    "google.cloud.bigquery: Client.query_and_wait", {"query": sql},
                    f"bq query --project_id={config.vertex.project} --use_legacy_sql=false "
                    f"'{sql}'")


def bigquery_client(config: Config, credentials: Any) -> Any:
    from google.cloud import bigquery

    options = None
    if config.vertex.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        options = {"api_endpoint": config.vertex.bigquery_api_endpoint}
        credentials = AnonymousCredentials()
    return bigquery.Client(project=config.vertex.project, credentials=credentials,
                           client_options=options)


def iter_logged_frames(config: Config, credentials: Any, sql: str, params: Mapping[str, Any],
                       versions: Mapping[str, str], thresholds: Mapping[str, float],
                       chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Frames of about chunk_rows instances (whole requests), oldest first.

    `versions` and `thresholds` are keyed by deployed model id: the model version it serves,
    and its decision threshold when the response carries no `churn` decision.
    """
    from google.cloud import bigquery

    client = bigquery_client(config, credentials)
    job_config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(name, "TIMESTAMP" if name in ("since", "until")
                                      else "STRING", value) for name, value in params.items()])
    pending: list[dict[str, Any]] = []
    with translate_errors("read the request-response log", config.vertex.project):
        rows = client.query_and_wait(sql, job_config=job_config, page_size=min(chunk_rows, 10_000))
        for row in rows:
            pending.extend(_instances(row, versions, thresholds))
            if len(pending) >= chunk_rows:
                yield _frame(pending)
                pending = []
    if pending:
        yield _frame(pending)


def _instances(row: Any, versions: Mapping[str, str], thresholds: Mapping[str, float]
               ) -> Iterator[dict[str, Any]]:
    deployed = row["deployed_model_id"] or ""
    responses = list(row["response_payload"] or [])
    for index, text in enumerate(row["request_payload"] or []):
        instance = _json(text, row, "request_payload")
        if not isinstance(instance, dict):
            raise CloudError(f"request {row['request_id']}: logged instance {index} is not a JSON "
                             f"object ({str(text)[:80]})")
        scores = _scores(_json(responses[index], row, "response_payload")
                         if index < len(responses) else None)
        if scores["churn"] is None and scores["churn_probability"] is not None \
                and deployed in thresholds:
            scores["churn"] = scores["churn_probability"] >= thresholds[deployed]
        yield {"request_id": str(row["request_id"]), "instance": index,
               "timestamp": utc_timestamp(row["logging_time"]),
               "model_version": versions.get(deployed, deployed), "endpoint": row["endpoint"],
               schema.ID_COLUMN: instance.get(schema.ID_COLUMN),
               **{f: instance.get(f) for f in schema.FEATURES}, **scores, "latency_ms": None}


def _json(text: str, row: Any, column: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise CloudError(f"request {row['request_id']}: {column} is not JSON "
                         f"({str(text)[:80]})") from None


def _scores(prediction: Any) -> dict[str, Any]:
    """TF Serving omits the output name when the signature has one output."""
    if isinstance(prediction, list) and len(prediction) == 1:
        prediction = prediction[0]
    if isinstance(prediction, dict):
        found: dict[str, Any] = {k: prediction.get(k) for k in _SCORES}
        for key, value in found.items():
            if isinstance(value, list) and len(value) == 1:
                found[key] = value[0]
        return found
    if isinstance(prediction, int | float) and not isinstance(prediction, bool):
        return {"churn_probability": float(prediction), "interval_lower": None,
                "interval_upper": None, "churn": None}
    return dict.fromkeys(_SCORES)


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The dtypes of predlog.iter_log_frames (churn stays nullable when a decision is unknown)."""
    frame = pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS))
    for name in META_COLUMNS:
        if name not in ("instance", "timestamp"):
            frame[name] = frame[name].astype("string")
    frame["instance"] = frame["instance"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    for name in schema.FEATURES:
        if schema.is_numeric(name):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype("string")
    for name in ("churn_probability", "interval_lower", "interval_upper", "latency_ms"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    known = frame["churn"].notna().all()
    frame["churn"] = frame["churn"].astype("bool" if known else "boolean")
    return frame
