"""`churn train` on data of any size: the same run directory as the in-memory path, built
from one validating pass and tf.data epochs over encoded scratch files, in bounded memory.

What differs from the in-memory path, and why (README: "When one machine is not enough"):
- the split is per row, by a hash of customerID (pipeline.training.hashsplit), not
  train_test_split: no shuffle or sort of the whole set, and the same rows whatever the sharding;
- the scaler's mean and variance come from the pass (the same population statistics);
- each epoch reads the fit rows in a seeded record-batch order, shuffled train.shuffle_buffer_rows
  rows at a time, and fits the network through its encoded view (model.encoded_view: the
  same layers and weights, categories as one-hot positions instead of strings);
- the baselines fit on train.baseline_sample_rows fit rows and calibration, thresholds, the
  interval table and the validation figures use train.validation_sample_rows validation rows,
  both picked by the seeded hash (so the sample is the whole split below that size);
- test metrics, curves, coverage and the monitoring baseline are accumulated chunk by chunk
  (pipeline.training.stream_eval, pipeline.monitoring.histogram.ValueSketch).
Scratch files live in a temporary folder (the system's, TMPDIR) removed when the run ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from rich.progress import Progress

from pipeline.config import Config
from pipeline.core import atomic, progress
from pipeline.monitoring.histogram import ValueSketch
from pipeline.monitoring.stats import BaselineStats, CategoricalStats, NumericStats
from pipeline.training import baselines, calibration, data, export, hashsplit, schema, stream_eval
from pipeline.training.epoch_progress import EpochProgress
from pipeline.training.evaluate import Scores
from pipeline.training.model import build_model, encoded_view, model_inputs
from pipeline.training.scoring import offline_outputs
from pipeline.training.sources import DataSource
from pipeline.training.stream_data import EncodedCache, Moments, PassSummary, first_pass

Outputs = Callable[[pd.DataFrame], dict[str, np.ndarray]]


def should_stream(source: DataSource, config: Config, streaming: bool | None) -> bool:
    """--streaming / --no-streaming decide; otherwise data over train.streaming_threshold_rows
    (or of unknown size: a query) streams."""
    if streaming is not None:
        return streaming
    rows = source.estimated_rows()
    return rows is None or rows > config.train.streaming_threshold_rows


def train_streaming(config: Config, source: DataSource, final: Path, bar: Progress) -> Path:
    """The streaming `churn train`; returns the finished run directory."""
    from pipeline.training.train import save_models, seed_everything, write_inputs

    with tempfile.TemporaryDirectory(prefix="churn-stream-") as scratch:
        cache = EncodedCache(Path(scratch))
        task = bar.add_task("Reading and validating data (one pass)", total=None, status="")
        summary = first_pass(source, config, cache, lambda rows: bar.update(task, status=f"{rows:,} rows"))
        bar.update(task, total=1, completed=1)
        with atomic.staged_directory(final) as staging:
            context = write_inputs(staging, config, source.spec, None, final.name, summary.fingerprint)
            seed_everything(config.train.seed)
            log_dir = staging / "tensorboard" if config.train.tensorboard else None
            model, history = fit_streaming(cache, summary, config, log_dir, bar)
            with progress.stage(bar, "Training baselines (seeded sample)"):
                sample = cache.sample(hashsplit.FIT, summary.baseline_cutoff)
                fitted = baselines.fit_baselines(sample, data.labels_of(sample), config.train.seed)
                del sample
            save_models(staging, model, fitted, history)
            with progress.stage(bar, "Calibrating on the validation sample"):
                validation = cache.sample(hashsplit.VALIDATION, summary.validation_cutoff)
                raw = model.predict(model_inputs(data.features_of(validation)), batch_size=4096, verbose=0)
                answer = calibration.fit_answer(raw.reshape(-1), data.labels_of(validation), config.evaluate)
                atomic.write_json(staging / "intervals.json", answer)
            with progress.stage(bar, "Exporting SavedModel"):
                signature = export.export_serving(model, staging, answer)
            with progress.stage(bar, "Evaluating on the test split (streaming)"):
                outputs = offline_outputs(staging / "model", signature)
                evaluate_streaming(staging, outputs, fitted, cache, validation, answer, config,
                                   context.with_history(history), summary.rows)
                write_baseline_stats(staging, outputs, cache, summary, config.monitor.numeric_bins)
                atomic.write_json(staging / "model_card.json", export.model_card(staging, context))
    return final


def fit_streaming(cache: EncodedCache, summary: PassSummary, config: Config, log_dir: Path | None,
                  bar: Progress) -> tuple[keras.Model, dict]:
    """model.fit over the fit rows' tf.data batches, validated on the validation rows. The fit
    runs through model.encoded_view(): the same network and weights fed the scratch files'
    encoded rows, so no batch is turned back into strings to be looked up again; the returned
    model (raw features in) is the one trained."""
    assert summary.scaler is not None
    model = build_model(summary.scaler, config.train)
    trainer = encoded_view(model, config.train)
    task = bar.add_task("Training Keras network (streaming)", total=config.train.epochs, status="")
    callbacks: list[keras.callbacks.Callback] = [EpochProgress(bar, task)]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0))
    train = cache.dataset(hashsplit.FIT, config.train.batch_size, config.train.shuffle_buffer_rows,
                          config.train.seed)
    validation = cache.dataset(hashsplit.VALIDATION, config.train.batch_size)
    history = trainer.fit(train, validation_data=validation, epochs=config.train.epochs, shuffle=False, verbose=0,
                        callbacks=callbacks)  # the dataset shuffles
    return model, {k: [float(v) for v in values] for k, values in history.history.items()}


def _scores(outputs: Outputs, fitted: dict[str, Any], frame: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    answer = outputs(frame)
    by_model = {"keras": answer["churn_probability"]}
    by_model.update({name: baselines.baseline_scores(m, frame) for name, m in fitted.items()})
    return by_model, answer["raw_probability"]


def evaluate_streaming(run_dir: Path, outputs: Outputs, fitted: dict[str, Any], cache: EncodedCache,
                       validation: pd.DataFrame, answer: dict[str, Any], config: Config, context: Any,
                       rows: int) -> dict[str, Any]:
    """metrics.json, plots and report.html from the validation sample and one test pass."""
    from dataclasses import replace

    from pipeline.training import report

    by_model, raw = _scores(outputs, fitted, validation)
    validation_scores = Scores(labels=data.labels_of(validation), by_model=by_model)
    thresholds, raw_threshold = stream_eval.validation_thresholds(validation_scores, raw, config.evaluate,
                                                                  answer["threshold"])
    test = stream_eval.TestAccumulator(thresholds, raw_threshold, answer)
    for frame in cache.frames(hashsplit.TEST):
        frame_scores, frame_raw = _scores(outputs, fitted, frame)
        test.add(data.labels_of(frame), frame_scores, frame_raw)
    document = stream_eval.metrics_document(test, validation_scores, config.evaluate, rows)
    atomic.write_json(run_dir / "metrics.json", document)
    context = replace(context, rows=rows)
    images = stream_eval.write_plots(run_dir / "plots", test, document, dict(context.history), config.evaluate)
    report.write_report(run_dir / "report.html", document, images, test.coverage.result(), context)
    return document


def write_baseline_stats(run_dir: Path, outputs: Outputs, cache: EncodedCache, summary: PassSummary,
                         bins: int) -> Path:
    """compute_baseline's statistics of the training rows (fit + validation) and their
    served scores, accumulated chunk by chunk."""
    sketches = {name: ValueSketch() for name in (*schema.NUMERIC_FEATURES, "score")}
    moments = {name: Moments(1) for name in sketches}
    rows = 0
    for split in (hashsplit.FIT, hashsplit.VALIDATION):
        for frame in cache.frames(split):
            columns = {name: frame[name].to_numpy(np.float64) for name in schema.NUMERIC_FEATURES}
            columns["score"] = np.asarray(outputs(frame)["churn_probability"], dtype=np.float64)
            for name, values in columns.items():
                sketches[name].add(values)
                moments[name].add(values.reshape(-1, 1))
            rows += len(frame)
    numeric = {name: _numeric_stats(sketches[name], moments[name], rows, bins) for name in sketches}
    features: dict[str, NumericStats | CategoricalStats] = {}
    for name in schema.FEATURES:
        if schema.is_numeric(name):
            features[name] = numeric[name]
        else:
            training = _training_counts(cache, name)
            features[name] = CategoricalStats(training, 0)
    path = run_dir / "baseline_stats.json"
    BaselineStats(features, numeric["score"], rows, bins).save(path)
    return path


def _numeric_stats(sketch: ValueSketch, moment: Moments, rows: int, bins: int) -> NumericStats:
    edges, counts = sketch.histogram(bins)
    mean, std = float(moment.mean[0]), float(np.sqrt(moment.variance[0]))
    return NumericStats(tuple(edges.tolist()), tuple(np.rint(counts).astype(np.int64).tolist()), 0,
                        sketch.min, sketch.max, mean, std)


def _training_counts(cache: EncodedCache, name: str) -> dict[str, int]:
    """Rows per category over fit + validation, most frequent first (value_counts' order)."""
    values = schema.CATEGORICAL_VALUES[name]
    counts = np.zeros(len(values), np.int64)
    for split in (hashsplit.FIT, hashsplit.VALIDATION):
        for batch in cache.batches(split):
            counts += np.bincount(batch.column(name).to_numpy().astype(np.int64), minlength=len(values))
    order = np.argsort(-counts, kind="stable")
    return {values[i]: int(counts[i]) for i in order if counts[i]}
