"""`churn monitor`: skew against the training baseline, drift against the previous window,
live performance when labels arrive; drift.json + an HTML report + alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.backends.base import Backend, LocalModel
from pipeline.config import Config
from pipeline.core import atomic
from pipeline.core.csvfile import CsvOptions, iter_text_frames, list_names, read_header
from pipeline.core.records import DriftReport
from pipeline.core.rundir import RunDir
from pipeline.errors import MonitoringError, PipelineError
from pipeline.monitoring.compare import DriftResult, compare, drift_between
from pipeline.monitoring.stats import BaselineStats
from pipeline.training import schema

CHUNK_ROWS = 100_000
SCORE_COLUMN = "churn_probability"


@dataclass(frozen=True)
class MonitorRequest:
    """What to compare: a CSV (`current`) or the prediction log since a time, against the
    model's training baseline or, when `reference` is given, against that CSV."""

    model_ref: str
    current: Path | None = None
    from_log: bool = False
    since: dt.datetime | None = None
    window: dt.timedelta = dt.timedelta(days=1)
    labels: Path | None = None
    out: Path | None = None
    reference: Path | None = None


def parse_window(text: str) -> dt.timedelta:
    """'1d', '12h', '30m', '2w' -> timedelta."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.replace(".", "", 1).isdigit() or float(number) <= 0:
        raise MonitoringError(f"--window {text[:40]!r}: expected a length like 30m, 12h, 1d or 2w")
    try:
        window = dt.timedelta(**{units[unit]: float(number)})
        dt.datetime.now(dt.timezone.utc) - 2 * window  # the previous window must be a date too
    except OverflowError:
        raise MonitoringError(f"--window {text[:40]!r}: too long (at most a few thousand years)") from None
    return window


def csv_chunks(path: Path) -> Iterator[pd.DataFrame]:
    """A CSV as string chunks, exactly as the values came (bad values are counted, not fixed);
    a file the shared reader refuses (not a regular file, ragged rows...) fails here, at once."""
    options = CsvOptions(MonitoringError, "current data CSV file", "pass --current PATH")
    header = read_header(Path(path), options)
    missing = [name for name in schema.FEATURES if name not in header]
    if missing:
        raise MonitoringError(f"{path}: missing feature column(s) {list_names(missing)} "
                              f"(its header starts {list_names(header, 4)})")
    return (chunk for _, chunk in iter_text_frames(Path(path), options, CHUNK_ROWS))


class ScoreCollector:
    """Passes chunks through while keeping their scores and ids (for score drift and labels)."""

    def __init__(self, chunks: Iterator[pd.DataFrame]) -> None:
        self.chunks = chunks
        self.scores: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for chunk in self.chunks:
            if SCORE_COLUMN in chunk:
                self.scores.append(pd.to_numeric(chunk[SCORE_COLUMN], errors="coerce").to_numpy(float))
            if schema.ID_COLUMN in chunk:
                self.ids.append(chunk[schema.ID_COLUMN].astype(str).to_numpy())
            yield chunk

    def joined_scores(self) -> pd.Series:
        if not self.scores or not self.ids:
            return pd.Series(dtype=float)
        joined = pd.Series(np.concatenate(self.scores), index=np.concatenate(self.ids))
        known = joined.index.notna() & (joined.index != "<NA>") & (joined.index != "")
        return joined[known][~joined[known].index.duplicated(keep="last")]


class _LateScores:
    """The collector's scores, read only after compare() has gone through the chunks."""

    def __init__(self, collector: ScoreCollector) -> None:
        self.collector = collector

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.collector.scores)


def skew_result(config: Config, baseline: BaselineStats, chunks: ScoreCollector, with_scores: bool) -> DriftResult:
    """Current data (and, when scored, the score distribution) against the training baseline."""
    monitor = config.monitor
    scores = _LateScores(chunks) if with_scores and baseline.score is not None else None
    return compare(baseline, chunks, monitor.thresholds, monitor.default_threshold, monitor.min_rows,
                   current_scores=scores, bins=monitor.numeric_bins)


def window_drift(config: Config, backend: Backend, request: MonitorRequest, since: dt.datetime
                 ) -> dict[str, Any] | None:
    """This window against the previous one of the same length, from the log."""
    previous = [c for c in backend.monitoring.logged_requests(since - request.window, since)]
    if not previous or sum(len(c) for c in previous) < config.monitor.min_rows:
        return {"status": "not_enough_data", "detail": "fewer than monitor.min_rows rows in the previous window"}
    monitor = config.monitor
    current = backend.monitoring.logged_requests(since, None)
    return drift_between(pd.concat(previous, ignore_index=True), current, monitor.thresholds,
                         monitor.default_threshold, monitor.min_rows, bins=monitor.numeric_bins).to_dict()


def live_performance(labels_path: Path, scores: pd.Series, threshold: float) -> dict[str, Any]:
    """ROC-AUC and calibration of the live model on rows whose labels have arrived."""
    from sklearn.calibration import calibration_curve

    from pipeline.training.data import load_labels
    from pipeline.training.evaluate import classification_metrics

    labels = load_labels(labels_path)
    joined = pd.concat([scores.rename("score"), labels.rename("label")], axis=1, join="inner").dropna()
    if len(joined) < 20 or joined["label"].nunique() < 2:
        return {"status": "not_enough_data", "rows": int(len(joined)),
                "detail": "need at least 20 labelled rows with both outcomes that match a scored customerID"}
    y, p = joined["label"].to_numpy(int), joined["score"].to_numpy(float)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {"status": "ok", "rows": int(len(joined)), "metrics": classification_metrics(y, p, threshold),
            "calibration": {"predicted": predicted.tolist(), "observed": observed.tolist(),
                            "expected_calibration_error": float(np.mean(np.abs(observed - predicted)))}}


def reference_baseline(config: Config, path: Path) -> BaselineStats:
    """Statistics of a reference CSV (e.g. a training set), validated as training data is."""
    from pipeline.monitoring.stats import compute_baseline
    from pipeline.training import data

    frame = data.load_dataset(path, config.data, require_label=False)
    return compute_baseline(frame, None, config.monitor.numeric_bins)


def run_monitor(config: Config, backend: Backend, request: MonitorRequest) -> dict[str, Any]:
    """Compute, write DIR/drift.json and DIR/report.html, alert when drifted; return the report.

    DIR (--out) must be new or an empty folder: it is staged from the start, so an
    unwritable or occupied location is refused before any work, and appears only complete."""
    chunks, since = _current(backend, request)
    if request.reference is not None and request.labels:
        raise MonitoringError("--labels judges a model's live performance; it needs --model, not --reference")
    out = output_dir(config, request)
    with atomic.staged_directory(out) as staging:
        if request.reference is not None:
            baseline = reference_baseline(config, request.reference)
            skew = skew_result(config, baseline, ScoreCollector(chunks), with_scores=False)
            identity = {"model": None, "model_version": None, "reference": str(request.reference)}
            report = _report(request, identity, skew, since)
        else:
            report, baseline = _model_skew(config, backend, request, chunks, since)
        _write(staging, out, report, baseline)
    return _publish(config, out, report)


def _model_skew(config: Config, backend: Backend, request: MonitorRequest, chunks: Iterator[pd.DataFrame],
                since: dt.datetime | None) -> tuple[dict[str, Any], BaselineStats]:
    """Skew against the model's training baseline (+ window drift, + live performance)."""
    resolved = backend.registry.fetch(request.model_ref)
    run = RunDir(resolved.source_dir)
    baseline = run.baseline()
    if request.labels and not request.from_log:
        chunks = _scored(resolved, chunks)
    collector = ScoreCollector(chunks)
    skew = skew_result(config, baseline, collector, with_scores=request.from_log or bool(request.labels))
    identity = {"model": request.model_ref, "model_version": resolved.version.version_id}
    report = _report(request, identity, skew, since)
    if request.from_log and since is not None:
        report["window_drift"] = window_drift(config, backend, request, since)
    if request.labels:
        report["performance"] = live_performance(request.labels, collector.joined_scores(), run.threshold())
    return report, baseline


def output_dir(config: Config, request: MonitorRequest) -> Path:
    """--out, or a new artifacts/monitoring/<UTC time>; refused when it holds anything."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    out = Path(request.out) if request.out else config.paths.monitoring / stamp
    atomic.check_new_directory(out)
    return out


def _current(backend: Backend, request: MonitorRequest) -> tuple[Iterator[pd.DataFrame], dt.datetime | None]:
    if request.from_log == (request.current is not None):
        raise MonitoringError("choose exactly one source: --current PATH or --from-log [--since T]")
    if request.current is not None:
        return csv_chunks(request.current), None
    since = request.since or dt.datetime.now(dt.timezone.utc) - request.window
    return backend.monitoring.logged_requests(since, None), since


def _scored(model: LocalModel, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Add the model's scores to CSV chunks (needed to judge live performance on labels)."""
    from pipeline.training import data
    from pipeline.training.scoring import offline_scorer

    score = offline_scorer(model.model_dir)
    for index, chunk in enumerate(chunks):
        try:
            valid = data.validate_frame(chunk, "current data", first_line=2 + index * CHUNK_ROWS)
        except PipelineError as exc:
            raise MonitoringError(f"cannot score rows for --labels: {exc}") from None
        chunk = chunk.copy()
        chunk[SCORE_COLUMN] = score(valid)
        yield chunk


def _report(request: MonitorRequest, identity: dict[str, Any], skew: DriftResult,
            since: dt.datetime | None) -> dict[str, Any]:
    """drift.json's content; `identity` says what the data was compared with."""
    source = f"prediction log since {since.isoformat()}" if since else str(request.current)
    return {"generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **identity, "source": source, "mode": "skew", **skew.to_dict()}


def _write(staging: Path, out: Path, report: dict[str, Any], baseline: BaselineStats) -> None:
    from pipeline.monitoring import drift_report

    report["report"] = str(out / "report.html")
    drift_report.write_drift_report(staging / "report.html", report, baseline)
    atomic.write_json(staging / "drift.json", DriftReport.from_dict(report).to_dict())  # the contract, checked


def _publish(config: Config, out: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Alerts and the latest-run gauges, once DIR is in place."""
    from pipeline.monitoring import alerts, gauges

    if report["drifted_features"]:
        report["alert"] = alerts.send_alerts(report, out, config.monitor, config.paths.monitoring / "alerts.jsonl")
    atomic.write_json(config.paths.monitoring / gauges.LATEST, gauges.latest_summary(report, out))
    return report
