"""Retrain: a challenger trained on old plus newly labelled data, compared with the champion
on the same recent labelled holdout, promoted only when it is clearly better."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import atomic, data, export, schema
from pipeline.config import Config, RetrainConfig
from pipeline.csvfile import read_text_frame
from pipeline.errors import DataError
from pipeline.evaluate import classification_metrics
from pipeline.registry import LocalRegistry, ResolvedModel, resolve_model

LOWER_IS_BETTER = {"log_loss", "brier"}


@dataclass(frozen=True)
class TrainingWindow:
    """Rows the challenger trains on and the recent rows both models are judged on."""

    training_csv: Path
    holdout: pd.DataFrame


def read_new_labels(config: Config, new_data: Path) -> pd.DataFrame:
    """The newly labelled rows as text, exactly as written, once the whole file has passed
    the loader's checks (so a bad file is one line before anything is trained or written)."""
    data.load_dataset(new_data, config.data)
    return read_text_frame(Path(new_data), data.csv_options())


def build_window(config: Config, new_data: Path | None, workdir: Path,
                 fresh: pd.DataFrame | None = None) -> TrainingWindow:
    """Old data + newly labelled data (minus a recent holdout) as one training CSV.
    `fresh`: new_data already read by read_new_labels."""
    if new_data is None:
        # No new labels: judge on the article's test split of the configured data.
        frame = data.load_dataset(config.data.path, config.data)
        return TrainingWindow(Path(config.data.path), data.split_dataset(frame, config.split).test)
    if fresh is None:
        fresh = read_new_labels(config, new_data)
    old = read_text_frame(Path(config.data.path), data.csv_options())
    cut = int(len(fresh) * (1 - config.retrain.holdout_fraction))
    if cut < 1 or len(fresh) - cut < 20:
        raise DataError(f"{new_data}: {len(fresh)} labelled rows are too few to keep a holdout of "
                        f"{config.retrain.holdout_fraction:.0%} (need at least 20 holdout rows)")
    recent = fresh.iloc[cut:]
    combined = pd.concat([old, fresh.iloc[:cut]], ignore_index=True)
    combined = combined.drop_duplicates(subset=[schema.ID_COLUMN], keep="last")
    path = workdir / "training_window.csv"
    atomic.write_text(path, combined.to_csv(index=False))
    holdout_path = workdir / "holdout.csv"
    atomic.write_text(holdout_path, recent.to_csv(index=False))
    return TrainingWindow(path, data.load_dataset(holdout_path, config.data))


def holdout_metrics(model: ResolvedModel, holdout: pd.DataFrame) -> dict[str, float]:
    """A model's metrics on the holdout, at its own stored threshold."""
    threshold = atomic.read_json(model.source_dir / "metrics.json")["threshold"]
    scores = export.signature_predict(export.load_signature(model.model_dir), data.features_of(holdout))
    return classification_metrics(data.labels_of(holdout), scores, threshold)


def gate(champion: dict[str, float], challenger: dict[str, float], rules: RetrainConfig) -> tuple[bool, str]:
    """Promote only if ROC-AUC improves by the margin and no guarded metric regresses."""
    gain = challenger["roc_auc"] - champion["roc_auc"]
    if gain < rules.min_auc_gain:
        return False, f"ROC-AUC gain {gain:+.4f} is below the required {rules.min_auc_gain:+.4f}"
    for metric in rules.guarded_metrics:
        worse = (challenger[metric] - champion[metric]) if metric in LOWER_IS_BETTER \
            else (champion[metric] - challenger[metric])
        if worse > rules.tolerance:
            return False, f"{metric} regresses by {worse:.4f} (tolerance {rules.tolerance:.4f})"
    return True, f"ROC-AUC gain {gain:+.4f} meets the margin and no guarded metric regresses"


def retrain(config: Config, new_data: Path | None = None) -> dict[str, Any]:
    """Train a challenger, gate it against the champion and write the decision record."""
    registry = LocalRegistry.from_config(config)
    champion = resolve_model(config, f"{registry.name}@champion")
    fresh = read_new_labels(config, new_data) if new_data is not None else None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    workdir = config.paths.artifacts / "retrain" / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        decision = _challenge(config, registry, champion, new_data, workdir, fresh)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # no half-written retrain record
        raise
    decision["decided_at"] = stamp
    atomic.write_json(workdir / "decision.json", decision)
    decision["record"] = str(workdir / "decision.json")
    return decision


def _challenge(config: Config, registry: LocalRegistry, champion: ResolvedModel, new_data: Path | None,
               workdir: Path, fresh: pd.DataFrame | None) -> dict[str, Any]:
    from pipeline.train import train_run

    window = build_window(config, new_data, workdir, fresh)
    run_dir = train_run(config, window.training_csv)
    version = registry.upload(run_dir, aliases=["challenger"], labels=dict(config.registry.labels))
    challenger = registry.resolve(str(version))
    scores = {"champion": holdout_metrics(champion, window.holdout),
              "challenger": holdout_metrics(challenger, window.holdout)}
    promote, reason = gate(scores["champion"], scores["challenger"], config.retrain)
    if promote:
        registry.promote(version, "champion")
    return {
        "promoted": promote, "reason": reason,
        "champion_version": int(champion.version_id), "challenger_version": version,
        "challenger_run": str(run_dir), "holdout_rows": int(len(window.holdout)),
        "holdout_churn_rate": float(np.mean(data.labels_of(window.holdout))),
        "metrics": scores, "rules": config.retrain.model_dump(),
        "champion_now": registry.aliases()["champion"],
    }
