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

from pipeline import atomic, schema
from pipeline.config import Config
from pipeline.errors import MonitoringError, PipelineError
from pipeline.monitoring.compare import DriftResult, compare, drift_between
from pipeline.monitoring.stats import BaselineStats
from pipeline.registry import ResolvedModel, resolve_model

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
        raise MonitoringError(f"--window {text!r}: expected a length like 30m, 12h, 1d or 2w")
    return dt.timedelta(**{units[unit]: float(number)})


def csv_chunks(path: Path) -> Iterator[pd.DataFrame]:
    """A CSV as string chunks, exactly as the values came (bad values are counted, not fixed)."""
    if not Path(path).is_file():
        raise MonitoringError(f"{path}: current data file not found")
    try:
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
    except (pd.errors.EmptyDataError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise MonitoringError(f"{path}: unreadable CSV ({exc.__class__.__name__}: {exc})") from None


def log_chunks(config: Config, since: dt.datetime, until: dt.datetime | None) -> Iterator[pd.DataFrame]:
    from pipeline.serving.predlog import iter_log_frames

    return iter_log_frames(config.paths.prediction_log, since, until, CHUNK_ROWS)


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


def window_drift(config: Config, request: MonitorRequest, since: dt.datetime) -> dict[str, Any] | None:
    """This window against the previous one of the same length, from the log."""
    previous = [c for c in log_chunks(config, since - request.window, since)]
    if not previous or sum(len(c) for c in previous) < config.monitor.min_rows:
        return {"status": "not_enough_data", "detail": "fewer than monitor.min_rows rows in the previous window"}
    monitor = config.monitor
    current = log_chunks(config, since, None)
    return drift_between(pd.concat(previous, ignore_index=True), current, monitor.thresholds,
                         monitor.default_threshold, monitor.min_rows, bins=monitor.numeric_bins).to_dict()


def live_performance(labels_path: Path, scores: pd.Series, threshold: float) -> dict[str, Any]:
    """ROC-AUC and calibration of the live model on rows whose labels have arrived."""
    from sklearn.calibration import calibration_curve

    from pipeline.data import load_labels
    from pipeline.evaluate import classification_metrics

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
    from pipeline import data
    from pipeline.monitoring.stats import compute_baseline

    frame = data.load_dataset(path, config.data, require_label=False)
    return compute_baseline(frame, None, config.monitor.numeric_bins)


def run_monitor(config: Config, request: MonitorRequest) -> dict[str, Any]:
    """Compute, write DIR/drift.json and DIR/report.html, alert when drifted; return the report."""
    chunks, since = _current(config, request)
    if request.reference is not None and request.labels:
        raise MonitoringError("--labels judges a model's live performance; it needs --model, not --reference")
    if request.reference is not None:
        return _reference_skew(config, request, chunks, since)
    resolved = resolve_model(config, request.model_ref)
    baseline = BaselineStats.load(resolved.source_dir / "baseline_stats.json")
    if request.labels and not request.from_log:
        chunks = _scored(resolved, chunks)
    collector = ScoreCollector(chunks)
    skew = skew_result(config, baseline, collector, with_scores=request.from_log or bool(request.labels))
    report = _report(request, {"model": request.model_ref, "model_version": resolved.version_id}, skew, since)
    if request.from_log and since is not None:
        report["window_drift"] = window_drift(config, request, since)
    if request.labels:
        threshold = atomic.read_json(resolved.source_dir / "metrics.json")["threshold"]
        report["performance"] = live_performance(request.labels, collector.joined_scores(), threshold)
    return _write(config, request, report, baseline)


def _reference_skew(config: Config, request: MonitorRequest, chunks: Iterator[pd.DataFrame],
                    since: dt.datetime | None) -> dict[str, Any]:
    """Skew of the current data against a reference CSV instead of a model's baseline."""
    assert request.reference is not None
    baseline = reference_baseline(config, request.reference)
    skew = skew_result(config, baseline, ScoreCollector(chunks), with_scores=False)
    identity = {"model": None, "model_version": None, "reference": str(request.reference)}
    return _write(config, request, _report(request, identity, skew, since), baseline)


def _current(config: Config, request: MonitorRequest) -> tuple[Iterator[pd.DataFrame], dt.datetime | None]:
    if request.from_log == (request.current is not None):
        raise MonitoringError("choose exactly one source: --current PATH or --from-log [--since T]")
    if request.current is not None:
        return csv_chunks(request.current), None
    since = request.since or dt.datetime.now(dt.timezone.utc) - request.window
    return log_chunks(config, since, None), since


def _scored(model: ResolvedModel, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Add the model's scores to CSV chunks (needed to judge live performance on labels)."""
    from pipeline import data, export

    signature = export.load_signature(model.model_dir)
    for index, chunk in enumerate(chunks):
        try:
            valid = data.validate_frame(chunk, "current data", first_line=2 + index * CHUNK_ROWS)
        except PipelineError as exc:
            raise MonitoringError(f"cannot score rows for --labels: {exc}") from None
        chunk = chunk.copy()
        chunk[SCORE_COLUMN] = export.signature_predict(signature, data.features_of(valid))
        yield chunk


def _report(request: MonitorRequest, identity: dict[str, Any], skew: DriftResult,
            since: dt.datetime | None) -> dict[str, Any]:
    """drift.json's content; `identity` says what the data was compared with."""
    source = f"prediction log since {since.isoformat()}" if since else str(request.current)
    return {"generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **identity, "source": source, "mode": "skew", **skew.to_dict()}


def _write(config: Config, request: MonitorRequest, report: dict[str, Any], baseline: BaselineStats) -> dict[str, Any]:
    from pipeline.monitoring import alerts, drift_report, gauges

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    out = Path(request.out) if request.out else config.paths.monitoring / stamp
    with atomic.staged_directory(out, overwrite=True) as staging:
        report["report"] = str(out / "report.html")
        drift_report.write_drift_report(staging / "report.html", report, baseline)
        atomic.write_json(staging / "drift.json", report)
    if report["drifted_features"]:
        report["alert"] = alerts.send_alerts(report, out, config.monitor, config.paths.monitoring / "alerts.jsonl")
    atomic.write_json(config.paths.monitoring / gauges.LATEST, gauges.latest_summary(report, out))
    return report
