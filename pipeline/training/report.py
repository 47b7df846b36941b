"""report.html: one self-contained page (images embedded) a person can open and read."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import yaml

from pipeline.core import atomic
from pipeline.core.records import RunContext
from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES
from pipeline.training.plots import LABELS

LOWER_IS_BETTER = {"log_loss", "brier"}
METRIC_TITLES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "accuracy": "Accuracy", "precision": "Precision",
                 "recall": "Recall", "f1": "F1", "log_loss": "Log loss", "brier": "Brier score"}

STYLE = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;background:#f6f8fa;color:#202124}
header{background:#1a73e8;color:#fff;padding:24px 40px}header h1{margin:0 0 6px;font-size:26px}
header p{margin:0;opacity:.9}main{max-width:1180px;margin:0 auto;padding:24px 40px}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:20px 24px;margin:0 0 22px}
h2{font-size:19px;margin:0 0 14px;color:#1a73e8}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:7px 10px;border-bottom:1px solid #e8eaed;text-align:right}th:first-child,td:first-child{text-align:left}
thead th{background:#f1f3f4}td.best{font-weight:700;color:#188038}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}
figure{margin:0;text-align:center}figure img{max-width:100%;border:1px solid #e8eaed;border-radius:6px}
figcaption{font-size:13px;color:#5f6368;margin-top:4px}pre{background:#f1f3f4;padding:12px;border-radius:6px;
overflow:auto;font-size:12.5px}.kpi{display:flex;gap:18px;flex-wrap:wrap;margin-bottom:8px}
.kpi div{background:#e8f0fe;border-radius:8px;padding:10px 16px}.kpi b{display:block;font-size:22px}
.no{color:#d93025}.yes{color:#188038}
"""


def write_report(path: Path, document: dict[str, Any], images: dict[str, Path], coverage: dict[str, Any],
                 context: RunContext) -> Path:
    """Render the evaluation report and write it atomically."""
    body = "".join([
        _kpis(document, context),
        section("Test metrics, all models side by side", _metrics_table(document)),
        section("Plots", _plots(images)),
        section("Calibration: the network's raw sigmoid vs the served probability", _calibration(document)),
        section("Prediction intervals: coverage on the test split", _coverage(coverage, context)),
        section("Data", _data_summary(dict(context.fingerprint))),
        section("Configuration", _config_block(dict(context.config))),
    ])
    title = f"Churn model report: {html.escape(context.run_id)}"
    subtitle = ("Keras network vs. logistic regression and gradient boosting; "
                f"created {html.escape(context.created_at)}")
    return atomic.write_text(path, html_page(title, subtitle, body))


def html_page(title: str, subtitle: str, body: str) -> str:
    """A standalone page in the project's style (title and subtitle already escaped)."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{STYLE}</style></head>"
            f"<body><header><h1>{title}</h1><p>{subtitle}</p></header><main>{body}</main></body></html>")


def _config_block(settings: dict[str, Any]) -> str:
    return f"<pre>{html.escape(yaml.safe_dump(settings, sort_keys=False))}</pre>"


def section(title: str, content: str) -> str:
    """A titled card of the page."""
    return f"<section><h2>{html.escape(title)}</h2>{content}</section>"


def _kpis(document: dict[str, Any], context: RunContext) -> str:
    keras = document["test"]["keras"]
    items = [("Keras test ROC-AUC", f"{keras['roc_auc']:.3f}"), ("Keras test F1", f"{keras['f1']:.3f}"),
             ("Decision threshold", f"{document['threshold']:.3f}"), ("Rows", f"{document['rows']:,}"),
             ("Test rows", f"{document['split_rows']['test']:,}")]
    cells = "".join(f"<div>{html.escape(label)}<b>{value}</b></div>" for label, value in items)
    return f"<section><div class='kpi'>{cells}</div></section>"


def _metrics_table(document: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(LABELS[m])}</th>" for m in MODEL_NAMES)
    rows = []
    for metric in METRIC_NAMES:
        values = {m: document["test"][m][metric] for m in MODEL_NAMES}
        pick = min if metric in LOWER_IS_BETTER else max
        best = pick(values.values())
        cells = "".join(f"<td class='{'best' if values[m] == best else ''}'>{values[m]:.4f}</td>"
                        for m in MODEL_NAMES)
        rows.append(f"<tr><td>{METRIC_TITLES[metric]}</td>{cells}</tr>")
    thresholds = "".join(f"<td>{document['thresholds'][m]:.3f}</td>" for m in MODEL_NAMES)
    strategy = html.escape(document["threshold_strategy"])
    rows.append(f"<tr><td>Threshold ({strategy}, on validation)</td>{thresholds}</tr>")
    note = "<p>Best value per metric in green. Lower is better for log loss and Brier score.</p>"
    return f"<table><thead><tr><th>Metric</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _plots(images: dict[str, Path]) -> str:
    figures = []
    for name, path in images.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = html.escape(name.replace("_", " ").capitalize())
        figures.append(f"<figure><img alt='{caption}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{caption}</figcaption></figure>")
    return f"<div class='grid'>{''.join(figures)}</div>"


def _calibration(document: dict[str, Any]) -> str:
    raw = document.get("uncalibrated", {}).get("keras")
    if raw is None:
        return "<p>Raw-score metrics are computed at training time only.</p>"
    served = document["test"]["keras"]
    rows = "".join(f"<tr><td>{METRIC_TITLES[m]}</td><td>{raw[m]:.4f}</td><td>{served[m]:.4f}</td></tr>"
                   for m in METRIC_NAMES)
    note = ("<p>The SavedModel answers <code>churn_probability</code> = Platt scaling of the network's sigmoid, "
            "fit on the validation split (<code>raw_probability</code> is the sigmoid itself). Each column at its "
            "own threshold chosen on validation. Test metrics.</p>")
    return (f"{note}<table><thead><tr><th>Metric</th><th>raw_probability</th><th>churn_probability</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def _coverage(coverage: dict[str, Any], context: RunContext) -> str:
    rows = "".join(
        f"<tr><td>{b['low']:.3f} - {b['high']:.3f}</td><td>[{b['interval'][0]:.3f}, {b['interval'][1]:.3f}]</td>"
        f"<td>{b['rows']:,}</td><td>{'-' if b['observed_rate'] is None else format(b['observed_rate'], '.3f')}</td>"
        f"<td>{'yes' if b['inside'] else 'no'}</td>"
        f"<td class='{'yes' if b['covered'] else 'no'}'>{'yes' if b['covered'] else 'no'}</td></tr>"
        for b in coverage["bins"]
    )
    confidence = context.interval_confidence

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    summary = (f"<p>Each prediction carries the {confidence:.0%} Wilson interval of the churn rate of validation "
               "customers in its calibrated-score bin, extended to include the prediction itself when it lies "
               f"outside (here {pct(coverage['extended_rows'])} of test rows). The honest check: a bin's test churn "
               f"rate is consistent with its validation rate at the {confidence:.0%} level, allowing for the sampling "
               f"noise of both: {pct(coverage['bin_coverage'])} of bins ({pct(coverage['row_coverage'])} of rows); "
               f"expected about {confidence:.0%}. The test rate itself falls inside the interval in "
               f"{pct(coverage['inside_bin_coverage'])} of bins: less than {confidence:.0%} even for a correct "
               "interval, because the test rate carries its own noise.</p>")
    table = ("<table><thead><tr><th>Score bin</th><th>Interval</th><th>Test rows</th><th>Observed churn</th>"
             f"<th>Inside interval</th><th>Consistent ({confidence:.0%})</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")
    return summary + table


def _data_summary(fingerprint: dict[str, Any]) -> str:
    if not fingerprint:
        return "<p>No data fingerprint.</p>"
    facts = (f"<p><b>{html.escape(str(fingerprint.get('path')))}</b>: {fingerprint['rows']:,} rows, churn rate "
             f"{(fingerprint.get('churn_rate') or 0):.1%}, SHA-256 <code>{fingerprint['sha256'][:16]}...</code></p>")
    rows = []
    for name, summary in fingerprint["columns"].items():
        if summary["type"] == "numeric":
            detail = f"min {summary['min']:g}, mean {summary['mean']:.2f}, max {summary['max']:g}"
        else:
            detail = ", ".join(f"{html.escape(k)}: {v:,}" for k, v in summary["counts"].items())
        rows.append(f"<tr><td>{html.escape(name)}</td><td style='text-align:left'>{detail}</td></tr>")
    head = "<thead><tr><th>Feature</th><th style='text-align:left'>Summary</th></tr></thead>"
    return facts + f"<table>{head}<tbody>{''.join(rows)}</tbody></table>"
