"""Retrain: a challenger trained on old plus newly labelled data, compared with the champion
on the same recent labelled holdout, promoted only when it is clearly better, and rolled out
to the endpoint when one is serving. Every registry and endpoint call goes to the backend, so
the same step runs locally and on Vertex AI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.backends.base import Backend, LocalModel
from pipeline.config import Config
from pipeline.core import atomic
from pipeline.core.records import RetrainDecision
from pipeline.errors import DataError
from pipeline.training import data, schema
from pipeline.training.behaviour import behaviour_checks, behaviour_summary
from pipeline.training.gate import gate
from pipeline.training.scoring import holdout_metrics, offline_scorer

MIN_HOLDOUT_ROWS = 20


@dataclass(frozen=True)
class TrainingWindow:
    """Rows the challenger trains on and the recent rows both models are judged on."""

    training: pd.DataFrame
    holdout: pd.DataFrame
    source: str


def build_window(config: Config, new_data: Path | None) -> TrainingWindow:
    """Old data + newly labelled data (minus a recent holdout), validated once, in memory."""
    old = data.load_dataset(Path(config.data.path), config.data)
    if new_data is None:
        # No new labels: judge on the article's test split of the configured data.
        return TrainingWindow(old, data.split_dataset(old, config.split).test, str(config.data.path))
    fresh = data.load_dataset(new_data, config.data)
    cut = int(len(fresh) * (1 - config.retrain.holdout_fraction))
    if cut < 1 or len(fresh) - cut < MIN_HOLDOUT_ROWS:
        raise DataError(f"{new_data}: {len(fresh)} labelled rows are too few to keep a holdout of "
                        f"{config.retrain.holdout_fraction:.0%} (need at least {MIN_HOLDOUT_ROWS} holdout rows)")
    combined = pd.concat([old, fresh.iloc[:cut]], ignore_index=True)
    combined = combined.drop_duplicates(subset=[schema.ID_COLUMN], keep="last").reset_index(drop=True)
    return TrainingWindow(combined, fresh.iloc[cut:].reset_index(drop=True),
                          f"{config.data.path} + first {cut} rows of {new_data}")


def retrain(config: Config, backend: Backend, new_data: Path | None = None) -> tuple[RetrainDecision, Path]:
    """Train a challenger, gate it against the champion, write the decision record, roll out."""
    from pipeline.training.train import train_run

    champion = backend.registry.fetch(f"{backend.registry.name}@champion")
    window = build_window(config, new_data)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = train_run(config, frame=window.training, source=window.source)
    version = backend.registry.upload(run_dir, aliases=["challenger"])
    verdict = judge(champion, LocalModel(version, run_dir), window.holdout, config)
    promote, reason, scores, behaviour = verdict.promote, verdict.reason, verdict.scores, verdict.behaviour
    if promote:
        backend.registry.promote(version.version_id, "champion")
        _roll_out(config, backend)
    decision = RetrainDecision(
        promoted=promote, reason=reason, champion_version=champion.version.version_id,
        challenger_version=version.version_id, challenger_run=str(run_dir),
        holdout_rows=int(len(window.holdout)),
        holdout_churn_rate=float(np.mean(data.labels_of(window.holdout))),
        metrics=scores, rules=config.retrain.model_dump(),
        champion_now=version.version_id if promote else champion.version.version_id,
        decided_at=stamp, behaviour=behaviour)
    # A folder of this call's own (stamp-2 when a retrain ran in the same second).
    record = atomic.fresh_directory(config.paths.artifacts / "retrain", stamp) / "decision.json"
    atomic.write_json(record, decision.to_dict())
    return decision, record


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one challenger: promote or not, why, both models' holdout
    metrics and the challenger's behaviour checks."""

    promote: bool
    reason: str
    scores: dict[str, dict[str, float]]
    behaviour: dict[str, Any]


def judge(champion: LocalModel, challenger: LocalModel, holdout: pd.DataFrame, config: Config) -> Verdict:
    """Both models on the same holdout, the champion/challenger gate, then the challenger's
    behaviour checks (`churn retrain` and the pipeline's gate component both decide here)."""
    challenger_score = offline_scorer(challenger.model_dir)  # loaded once: metrics and behaviour
    scores = {"champion": holdout_metrics(champion, offline_scorer(champion.model_dir), holdout),
              "challenger": holdout_metrics(challenger, challenger_score, holdout)}
    promote, reason = gate(scores["champion"], scores["challenger"], config.retrain)
    behaviour = behaviour_summary(behaviour_checks(challenger_score))
    if promote and not behaviour["passed"]:
        failed = [c["name"] for c in behaviour["checks"] if not c["passed"]]
        promote, reason = False, f"{reason}, but the challenger fails behaviour checks: {'; '.join(failed)}"
    return Verdict(promote, reason, scores, behaviour)


def _roll_out(config: Config, backend: Backend) -> None:
    """Serve the new champion where an endpoint is serving (canary first when configured)."""
    if config.retrain.rollout and backend.endpoint.serving():
        backend.endpoint.deploy(f"{backend.registry.name}@champion", config.retrain.canary_percentage or None)
