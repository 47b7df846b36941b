"""Streaming `churn train`: the same run directory and metrics keys as the in-memory path,
sensible quality, and a split that does not depend on how the data is sharded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.config import load_config
from pipeline.tools import synth_files
from pipeline.training import hashsplit, sources, streaming
from pipeline.training.stream_data import PRIORITY, EncodedCache, first_pass
from tests.fakes.fixtures import TEST_BUCKET, fake_bigquery, gcs_client, gcs_emulator_url  # noqa: F401


def files_of(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and "tensorboard" not in p.parts)


def key_paths(document: object, prefix: str = "") -> list[str]:
    if not isinstance(document, dict):
        return []
    return [path for key, value in document.items()
            for path in [f"{prefix}/{key}", *key_paths(value, f"{prefix}/{key}")]]


def check_like_in_memory(run: Path, trained_run: Path) -> dict:
    from pipeline.core.rundir import RunDir
    from pipeline.monitoring.stats import BaselineStats

    assert files_of(run) == files_of(trained_run)
    for name in ("metrics.json", "intervals.json", "data_fingerprint.json", "baseline_stats.json", "history.json"):
        ours, theirs = json.loads((run / name).read_text()), json.loads((trained_run / name).read_text())
        extra = set(key_paths(ours)) - set(key_paths(theirs))
        # the shared run may have been re-evaluated by `churn evaluate`, which leaves out `uncalibrated`
        assert set(key_paths(theirs)) <= set(key_paths(ours)), name
        assert all(key.startswith("/uncalibrated") for key in extra), (name, extra)
    RunDir(run).metrics()
    BaselineStats.load(run / "baseline_stats.json")
    return json.loads((run / "metrics.json").read_text())


def test_churn_train_streaming_writes_the_same_run_directory(tmp_path: Path, trained_run: Path) -> None:
    from pipeline.cli.app import app

    data = synth_files.write_csv(2500, 21, tmp_path / "data.csv")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--streaming", "--run-dir", str(run),
                                      "--set", f"paths.artifacts={tmp_path}", "--set", "train.epochs=2",
                                      "--set", "train.tensorboard=false", "--set", "train.batch_size=64"])
    assert result.exit_code == 0, result.output
    metrics = check_like_in_memory(run, trained_run)
    assert metrics["rows"] == 2500 and "roc_auc" in metrics["uncalibrated"]["keras"]
    assert sum(metrics["split_rows"].values()) < 2500 and 350 < metrics["split_rows"]["test"] < 650
    assert metrics["test"]["keras"]["roc_auc"] > 0.75
    assert 0.5 < metrics["interval_coverage"]["row_coverage"] <= 1
    fingerprint = json.loads((run / "data_fingerprint.json").read_text())
    assert fingerprint["hash_of"] == "file" and fingerprint["rows"] == 2500


def test_binned_metrics_match_sklearn() -> None:
    from sklearn import metrics as skm

    from pipeline.training.stream_eval import BinnedScores

    rng = np.random.default_rng(3)
    labels = rng.random(20_000) < 0.3
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1)
    binned = BinnedScores(0.45)
    for part in np.array_split(np.arange(labels.size), 7):
        binned.add(scores[part], labels[part])
    got = binned.metrics()
    assert abs(got["roc_auc"] - skm.roc_auc_score(labels, scores)) < 1e-4
    assert abs(got["pr_auc"] - skm.average_precision_score(labels, scores)) < 1e-3
    assert got["f1"] == pytest.approx(skm.f1_score(labels, scores >= 0.45))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(labels, scores))


def test_the_split_does_not_depend_on_sharding(tmp_path: Path) -> None:
    config = load_config(None, ["train.chunk_rows=1024"], environ={})
    csv = synth_files.write_csv(3000, 8, tmp_path / "all.csv")
    synth_files.write_parquet_shards(3000, 8, tmp_path / "shards", shards=5)
    seen = []
    for spec in (csv, tmp_path / "shards"):
        cache = EncodedCache(tmp_path / f"cache-{len(seen)}")
        summary = first_pass(sources.open_source(spec, config), config, cache)
        test_rows = np.sort(np.concatenate([b.column(PRIORITY).to_numpy() for b in cache.batches(hashsplit.TEST)]))
        seen.append((summary.split_rows, test_rows, summary.baseline_cutoff, summary.scaler.mean_.tolist()))
    assert seen[0][0] == seen[1][0] and np.array_equal(seen[0][1], seen[1][1]) and seen[0][2] == seen[1][2]
    assert np.allclose(seen[0][3], seen[1][3])


def test_epochs_are_the_rows_encoded_and_reshuffled(tmp_path: Path) -> None:
    from pipeline.training import schema
    from pipeline.training.model import category_positions

    config = load_config(None, ["train.chunk_rows=1024"], environ={})
    cache = EncodedCache(tmp_path / "cache")
    summary = first_pass(sources.open_source(synth_files.write_csv(3000, 4, tmp_path / "d.csv"), config),
                         config, cache)
    stored = {name: np.concatenate([b.column(name).to_numpy() for b in cache.batches(hashsplit.FIT)])
              for name in (*schema.FEATURES, schema.LABEL_COLUMN)}
    rows = np.concatenate([np.stack([stored[n] for n in schema.NUMERIC_FEATURES], axis=1),
                           category_positions(np.stack([stored[n] for n in schema.CATEGORICAL_FEATURES], axis=1)),
                           stored[schema.LABEL_COLUMN].reshape(-1, 1)], axis=1).astype(np.float32)
    dataset = cache.dataset(hashsplit.FIT, 64, shuffle_rows=500, seed=3)
    epochs = []
    for _ in range(2):
        batches = [(numeric.numpy(), positions.numpy(), label.numpy()) for (numeric, positions), label in dataset]
        assert all(len(b[2]) == 64 for b in batches[:-1]) and len(batches) == len(dataset)
        epochs.append(np.concatenate([np.concatenate([n, p.astype(np.float32), lab.reshape(-1, 1)], axis=1)
                                      for n, p, lab in batches]))
    assert len(epochs[0]) == summary.split_rows[hashsplit.FIT]
    for epoch in epochs:  # every fit row once, encoded as the network's lookups would encode it
        assert np.array_equal(np.unique(epoch, axis=0), np.unique(rows, axis=0))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], rows)


def test_big_data_streams_by_the_threshold(tmp_path: Path) -> None:
    data = synth_files.write_csv(500, 1, tmp_path / "d.csv")
    source = sources.open_source(data, load_config(None, [], environ={}))
    small = load_config(None, ["train.streaming_threshold_rows=100"], environ={})
    large = load_config(None, ["train.streaming_threshold_rows=100000"], environ={})
    assert streaming.should_stream(source, small, None) and not streaming.should_stream(source, large, None)
    assert streaming.should_stream(source, large, True) and not streaming.should_stream(source, small, False)


@pytest.mark.slow
def test_streaming_quality_matches_in_memory(tmp_path: Path) -> None:
    from pipeline.training.train import train_run

    data = synth_files.write_csv(8000, 5, tmp_path / "d.csv")
    config = load_config(None, [f"paths.artifacts={tmp_path}", "train.epochs=4", "train.tensorboard=false",
                                "train.batch_size=64"], environ={})
    memory = json.loads((train_run(config, data, tmp_path / "m", streaming=False) / "metrics.json").read_text())
    stream = json.loads((train_run(config, data, tmp_path / "s", streaming=True) / "metrics.json").read_text())
    for model in ("keras", "logistic_regression", "hist_gradient_boosting"):
        assert abs(memory["test"][model]["roc_auc"] - stream["test"][model]["roc_auc"]) < 0.03, model


@pytest.mark.slow
def test_streaming_train_from_gcs_and_bigquery(tmp_path: Path, gcs_client, fake_bigquery, trained_run) -> None:  # noqa: F811
    from pipeline.tools import synth
    from pipeline.training.train import train_run

    synth_files.write_parquet_shards(2000, 9, tmp_path / "pq", shards=2)
    for path in sorted((tmp_path / "pq").iterdir()):
        gcs_client.bucket(TEST_BUCKET).blob(f"d/{path.name}").upload_from_filename(str(path))
    fake_bigquery.add_table("test-project.churn.customers",
                            synth_files.parquet_table(synth.generate_customers(2000, 9)).to_pandas())
    config = load_config(None, [f"paths.artifacts={tmp_path}", "train.epochs=2", "train.tensorboard=false",
                                f"vertex.bigquery_api_endpoint={fake_bigquery.url}"], environ={})
    gcs = train_run(config, f"gs://{TEST_BUCKET}/d/*.parquet", tmp_path / "gcs", streaming=True)
    bq = train_run(config, "bq://test-project?query=SELECT * FROM `test-project.churn.customers`", tmp_path / "bq")
    for run in (gcs, bq):
        check_like_in_memory(run, trained_run)
    same = [json.loads((run / "metrics.json").read_text())["split_rows"] for run in (gcs, bq)]
    assert same[0] == same[1]  # the same rows, split by customerID, whatever the source
