"""The drift report: one self-contained HTML page, features sorted by how far they moved."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from pipeline.core import atomic  # noqa: E402
from pipeline.monitoring.stats import BaselineStats  # noqa: E402
from pipeline.training.report import html_page, section  # noqa: E402

MAX_PLOTS = 8


def write_drift_report(path: Path, report: dict[str, Any], baseline: BaselineStats) -> Path:
    """Render drift.json's content as HTML and write it atomically."""
    ranked = sorted(report["features"].items(), key=lambda item: -(item[1]["value"] or 0.0))
    sections = [
        _summary(report),
        section("Features, most drifted first", _feature_table(ranked)),
        section("Reference vs current distributions", _distribution_plots(ranked)),
    ]
    if report.get("score"):
        sections.append(section("Prediction score drift", _score_block(report["score"])))
    if report.get("performance"):
        sections.append(section("Live performance on arrived labels", _performance(report["performance"])))
    model, version = html.escape(str(report.get("model"))), html.escape(str(report.get("model_version")))
    title = f"Drift report: {model} (version {version})"
    against = "training rows"
    if report.get("reference"):
        title, against = f"Skew report: against {html.escape(report['reference'])}", "reference rows"
    subtitle = (f"{html.escape(report['source'])}; baseline of {baseline.rows:,} {against}; "
                f"generated {html.escape(report['generated_at'])}")
    return atomic.write_text(path, html_page(title, subtitle, "".join(sections)))


def _summary(report: dict[str, Any]) -> str:
    drifted = report["drifted_features"]
    verdict = (f"<b class='no'>Drift in {len(drifted)} feature(s): {html.escape(', '.join(drifted))}</b>"
               if drifted else "<b class='yes'>No feature crossed its threshold</b>")
    if report["status"] != "ok":
        verdict = "<b class='no'>Not enough data to judge drift</b>"
    items = [("Rows compared", f"{report['rows']:,}"), ("Drifted features", str(len(drifted))),
             ("Status", report["status"])]
    cells = "".join(f"<div>{html.escape(k)}<b>{html.escape(v)}</b></div>" for k, v in items)
    return f"<section><div class='kpi'>{cells}</div><p>{verdict}</p></section>"


def _feature_table(ranked: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, feature in ranked:
        value = "-" if feature["value"] is None else f"{feature['value']:.4f}"
        share = 0 if feature["value"] is None else feature["value"] / max(feature["threshold"], 1e-9) / 2
        width = min(100, 100 * share)
        bar = f"<div style='background:#e8eaed;height:8px;width:120px'><div style='background:" \
              f"{'#d93025' if feature['drifted'] else '#1a73e8'};height:8px;width:{width:.0f}%'></div></div>"
        extra = feature.get("out_of_range", feature.get("unseen", 0))
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(feature['statistic'])}</td><td>{value}</td>"
                    f"<td>{feature['threshold']:.2f}</td><td>{bar}</td>"
                    f"<td class='{'no' if feature['drifted'] else 'yes'}'>{'yes' if feature['drifted'] else 'no'}</td>"
                    f"<td>{extra:,}</td><td>{feature['missing']:,}</td></tr>")
    head = ("<tr><th>Feature</th><th>Statistic</th><th>Value</th><th>Threshold</th><th></th><th>Drifted</th>"
            "<th>Out of range / unseen</th><th>Missing</th></tr>")
    note = ("<p>Jensen-Shannon divergence (log base 2) for numeric features, between each side's own "
            "equal-width histogram (monitor.numeric_bins buckets; TFDV uses 10) aligned on the union of "
            "their edges; L-infinity distance for categorical ones: as Vertex AI Model Monitoring "
            "(TensorFlow Data Validation) computes them. "
            "Bar: value relative to twice the threshold.</p>")
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _distribution_plots(ranked: list[tuple[str, dict[str, Any]]]) -> str:
    figures = [_distribution_figure(name, feature["distribution"]) for name, feature in ranked[:MAX_PLOTS]
               if feature.get("distribution")]
    if not figures:
        return "<p>No distributions to show.</p>"
    return f"<div class='grid'>{''.join(figures)}</div>"


def _distribution_figure(name: str, distribution: dict[str, Any]) -> str:
    labels = [str(label) for label in distribution["labels"]]
    figure, axes = plt.subplots(figsize=(5.2, 3.4))
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], distribution["reference"], width=0.4, label="Training (reference)")
    axes.bar([p + 0.2 for p in positions], distribution["current"], width=0.4, label="Current")
    axes.set_xticks(list(positions), labels, rotation=45 if len(labels) > 4 else 0, ha="right", fontsize=7)
    axes.set(title=name, ylabel="Share of rows")
    axes.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'></figure>"


def _score_block(score: dict[str, Any]) -> str:
    value = "-" if score["value"] is None else f"{score['value']:.4f}"
    plot = _distribution_figure("churn_probability", score["distribution"]) if score.get("distribution") else ""
    return (f"<p>Jensen-Shannon divergence of the prediction scores: <b>{value}</b> "
            f"(threshold {score['threshold']:.2f}).</p>{plot}")


def _performance(performance: dict[str, Any]) -> str:
    if performance["status"] != "ok":
        return f"<p>{html.escape(performance.get('detail', 'not enough labelled rows'))}</p>"
    metrics = performance["metrics"]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in metrics.items())
    ece = performance["calibration"]["expected_calibration_error"]
    return (f"<p>{performance['rows']:,} scored customers have labels. Expected calibration error {ece:.3f}.</p>"
            f"<table><tbody>{rows}</tbody></table>")
