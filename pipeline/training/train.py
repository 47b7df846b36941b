"""Train: the article's Keras network and two baselines on one split, evaluated and
exported into a run directory that appears only when complete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml
from rich.progress import Progress

from pipeline.config import Config, config_as_dict, data_spec
from pipeline.core import atomic, progress
from pipeline.core.records import RunContext
from pipeline.core.rundir import PROFILE, TENSORBOARD, new_run_id
from pipeline.errors import ConfigError
from pipeline.training import baselines, calibration, data, distributed, evaluate, export, profiling
from pipeline.training.epoch_progress import EpochProgress
from pipeline.training.fingerprint import data_fingerprint
from pipeline.training.model import build_model, encoded_features, encoded_view, fit_scaler, model_inputs
from pipeline.training.scoring import offline_outputs

KerasScore = Callable[[pd.DataFrame], np.ndarray]  # the network's churn probabilities for validated rows


@dataclass(frozen=True)
class Frames:
    """The rows each stage sees: Keras fits on `fit` and validates on `validation`
    (its validation_split), baselines fit on `fit` too, everyone is tested on `test`."""

    fit: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    rows: int


def prepare_frames(frame: pd.DataFrame, config: Config) -> Frames:
    """Split 80/20 (stratified, seeded); the last validation_split of train validates,
    exactly the rows Keras' validation_split would hold out."""
    split = data.split_dataset(frame, config.split)
    split_at = int(np.floor(len(split.train) * (1.0 - config.train.validation_split)))
    return Frames(fit=split.train.iloc[:split_at].reset_index(drop=True),
                  validation=split.train.iloc[split_at:].reset_index(drop=True),
                  test=split.test, rows=len(frame))


def new_run_dir(config: Config) -> Path:
    """artifacts/runs/<UTC timestamp>-<random suffix>."""
    return config.paths.runs / new_run_id()


def seed_everything(seed: int) -> None:
    """Same seed, same metrics on the same machine."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit_keras(frames: Frames, config: Config, log_dir: Path | None, bar: Progress,
              strategy: Any = None) -> tuple[keras.Model, dict]:
    """The article's model.fit; validation data are the rows validation_split would pick. The
    fit runs through model.encoded_view() on rows encoded once (the same network, weights and
    updates; no string lookup traced or run per step); the returned model takes raw features.
    Under a distribution strategy, the same network through distributed.fit_distributed."""
    scaler = fit_scaler(pd.concat([frames.fit, frames.validation]))
    if strategy is not None:
        return fit_under(strategy, scaler, frames, config, bar)
    model = build_model(scaler, config.train)
    task = bar.add_task("Training Keras network", total=config.train.epochs, status="")
    fit_batches = encoded_batches(frames.fit, config.train.batch_size, shuffle_seed=config.train.seed)
    validation_batches = encoded_batches(frames.validation, config.train.batch_size)
    callbacks: list[keras.callbacks.Callback] = [EpochProgress(bar, task)]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0))
    history = encoded_view(model, config.train).fit(
        fit_batches, validation_data=validation_batches,
        epochs=config.train.epochs, shuffle=False, verbose=0, callbacks=callbacks,  # encoded_batches() shuffles
    )
    return model, {k: [float(v) for v in values] for k, values in history.history.items()}



def fit_under(strategy: Any, scaler: Any, frames: Frames, config: Config, bar: Progress
              ) -> tuple[keras.Model, dict]:
    """The network trained by distributed.fit_distributed's loop, on the same input pipeline."""
    task = bar.add_task("Training Keras network (distributed)", total=config.train.epochs, status="")

    def advance(logs: dict[str, float]) -> None:
        bar.update(task, advance=1, status=f"loss {logs['loss']:.4f} val_loss {logs['val_loss']:.4f}")

    return distributed.fit_distributed(
        strategy, scaler, batches(frames.fit, config.train.batch_size, shuffle_seed=config.train.seed),
        batches(frames.validation, config.train.batch_size), config.train, on_epoch=advance)


def batches(frame: pd.DataFrame, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(features, label) mini-batches as tf.data; reshuffled each epoch when seeded.
    A dataset, not arrays: Keras' array adapter re-gathers the whole array every step."""
    dataset = tf.data.Dataset.from_tensor_slices((model_inputs(data.features_of(frame)), data.labels_of(frame)))
    return _batched(dataset, len(frame), batch_size, shuffle_seed)


def encoded_batches(frame: pd.DataFrame, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """batches() as model.encoded_view() takes them: ((numeric_features, category_positions), label),
    the rows encoded once."""
    dataset = tf.data.Dataset.from_tensor_slices((encoded_features(frame), data.labels_of(frame)))
    return _batched(dataset, len(frame), batch_size, shuffle_seed)


def _batched(dataset: tf.data.Dataset, rows: int, batch_size: int, shuffle_seed: int | None) -> tf.data.Dataset:
    if shuffle_seed is not None:
        dataset = dataset.shuffle(rows, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def raw_scores(model: keras.Model, frame: pd.DataFrame) -> np.ndarray:
    """The network's own sigmoid for validated rows (what calibration is fit on)."""
    return encoded_view(model).predict(encoded_features(frame), batch_size=4096, verbose=0).reshape(-1)


def score_all(keras_score: KerasScore, fitted: dict[str, Any], frame: pd.DataFrame) -> evaluate.Scores:
    """Scores of all three models on the same rows; the network's through its SavedModel."""
    by_model = {"keras": keras_score(frame)}
    by_model.update({name: baselines.baseline_scores(m, frame) for name, m in fitted.items()})
    return evaluate.Scores(labels=data.labels_of(frame), by_model=by_model)


def train_run(config: Config, data_path: Path | str | None = None, run_dir: Path | None = None,
              frame: pd.DataFrame | None = None, source: str | None = None,
              streaming: bool | None = None, profile: bool = False, strategy: Any = None) -> Path:
    """Load, validate, split, fit, evaluate and export; return the finished run directory.
    A caller that already holds validated rows passes them as `frame` (and says where they
    came from in `source`) instead of a path to read again. `data_path` is any --data value
    (pipeline.training.sources); data over train.streaming_threshold_rows, or any data with
    `streaming=True`, trains by streaming (pipeline.training.streaming). `profile` adds
    profile.json and a profiler trace (profiling.py); `strategy` trains under a tf.distribute
    strategy (in memory only)."""
    from pipeline.training import sources
    from pipeline.training import streaming as stream

    spec = data_spec(data_path or config.data.path)
    final = Path(run_dir) if run_dir else new_run_dir(config)
    atomic.probe_new_directory(final)  # occupied or unwritable: refused before any work
    with progress.make_progress() as bar:
        data_source = None if frame is not None else sources.open_source(spec, config)
        if data_source is not None and stream.should_stream(data_source, config, streaming):
            if strategy is not None or profile:
                raise ConfigError("streaming training runs in one process without --profile: multi-worker "
                                   "and profiled training read the data in memory (pass --no-streaming)")
            return stream.train_streaming(config, data_source, final, bar)
        with progress.stage(bar, "Loading and validating data"):
            if frame is None:
                assert data_source is not None
                frame = sources.load_frame(data_source)
            frames = prepare_frames(frame, config)
        with atomic.staged_directory(final) as staging:
            context = write_inputs(staging, config, source or spec, frame, final.name)
            seed_everything(config.train.seed)
            log_dir = staging / "tensorboard" if config.train.tensorboard else None
            model, history = fit_keras(frames, config, log_dir, bar, strategy)
            with progress.stage(bar, "Training baselines"):
                fitted = baselines.fit_baselines(frames.fit, data.labels_of(frames.fit), config.train.seed)
            save_models(staging, model, fitted, history)
            with progress.stage(bar, "Calibrating on the validation split"):
                answer = calibration.fit_answer(raw_scores(model, frames.validation),
                                                data.labels_of(frames.validation), config.evaluate)
                atomic.write_json(staging / "intervals.json", answer)
            with progress.stage(bar, "Exporting SavedModel"):
                signature = export.export_serving(model, staging, answer)
            with progress.stage(bar, "Evaluating on the test split"):
                outputs = offline_outputs(staging / "model", signature)

                def score(rows: pd.DataFrame) -> np.ndarray:
                    return outputs(rows)["churn_probability"]

                evaluate_models(staging, score, fitted, frames, config, context.with_history(history),
                                raw_score=lambda rows: outputs(rows)["raw_probability"])
                write_baseline_stats(staging, score, frames, config)
                atomic.write_json(staging / "model_card.json", export.model_card(staging, context))
            if profile:
                with progress.stage(bar, "Profiling training steps"):
                    write_profile(staging, frames, config)
    return final

def write_profile(run_dir: Path, frames: Frames, config: Config) -> dict[str, Any]:
    """profile.json and a trace under tensorboard/ (on a fresh copy of the network: the run's
    model and results stay as they are)."""
    scaler = fit_scaler(pd.concat([frames.fit, frames.validation]))
    dataset = encoded_batches(frames.fit, config.train.batch_size, shuffle_seed=config.train.seed)
    trainer = encoded_view(build_model(scaler, config.train), config.train)  # what fit_keras trains through
    found = profiling.profile_steps(trainer, dataset, run_dir / TENSORBOARD, config.train.profile_steps)
    if found["trace"]:  # relative: the staging directory is renamed when the run is complete
        found["trace"] = str(Path(found["trace"]).relative_to(run_dir))
    atomic.write_json(run_dir / PROFILE, found)
    return found



def write_inputs(run_dir: Path, config: Config, source: Path | str, frame: pd.DataFrame | None, run_id: str,
                 fingerprint: dict[str, Any] | None = None) -> RunContext:
    """config.yaml and data_fingerprint.json (the given one, or the frame's); returns the report context."""
    settings = config_as_dict(config)
    settings["data"]["path"] = str(source)
    atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(settings, sort_keys=False))
    if fingerprint is None:
        assert frame is not None
        fingerprint = data_fingerprint(source, frame)
    atomic.write_json(run_dir / "data_fingerprint.json", fingerprint)
    return RunContext(run_id=run_id, created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      config=settings, fingerprint=fingerprint, interval_confidence=config.evaluate.interval_confidence)


def save_models(run_dir: Path, model: keras.Model, fitted: dict[str, Any], history: dict) -> None:
    """model.keras (re-exportable), baselines/*.joblib (for re-evaluation), history.json."""
    model.save(run_dir / "model.keras")
    (run_dir / "baselines").mkdir(exist_ok=True)
    for name, pipeline in fitted.items():
        joblib.dump(pipeline, run_dir / "baselines" / f"{name}.joblib")
    atomic.write_json(run_dir / "history.json", history)


def evaluate_models(run_dir: Path, keras_score: KerasScore, fitted: dict[str, Any], frames: Frames,
                    config: Config, context: RunContext, raw_score: KerasScore | None = None
                    ) -> dict[str, Any]:
    """Metrics, interval coverage, plots and report for one run, against the answer table
    (intervals.json) its SavedModel holds. With `raw_score`, also the network's metrics
    before calibration."""
    test = score_all(keras_score, fitted, frames.test)
    validation = score_all(keras_score, fitted, frames.validation)
    raw = None
    if raw_score is not None:
        raw = evaluate.Uncalibrated(validation=raw_score(frames.validation), test=raw_score(frames.test))
    answer = atomic.read_json(run_dir / "intervals.json")
    return evaluate.write_evaluation(run_dir, test, validation, config.evaluate, replace(context, rows=frames.rows),
                                     answer, raw)


def write_baseline_stats(run_dir: Path, keras_score: KerasScore, frames: Frames, config: Config) -> Path:
    """Training-split statistics that skew and drift monitoring compare against."""
    from pipeline.monitoring.stats import compute_baseline

    training = pd.concat([frames.fit, frames.validation], ignore_index=True)
    baseline = compute_baseline(training, keras_score(training), config.monitor.numeric_bins)
    path = run_dir / "baseline_stats.json"
    baseline.save(path)
    return path
