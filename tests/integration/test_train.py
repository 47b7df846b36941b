"""End-to-end training on small data: run directory, metrics, export, determinism."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.errors import RunDirError
from pipeline.training import data, export, schema
from pipeline.training.calibration import calibrate
from pipeline.training.evaluate import METRIC_NAMES, MODEL_NAMES
from pipeline.training.model import model_inputs
from pipeline.training.train import prepare_frames, train_run

runner = CliRunner()


def test_run_directory_contract(trained_run: Path) -> None:
    for name in ("config.yaml", "data_fingerprint.json", "metrics.json", "report.html", "model/saved_model.pb",
                 "baseline_stats.json", "model_card.json", "intervals.json", "model.keras"):
        assert (trained_run / name).exists(), name
    assert {p.name for p in (trained_run / "plots").glob("*.png")} >= {
        "roc.png", "precision_recall.png", "calibration.png", "confusion_matrix.png", "loss.png"}
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for model in MODEL_NAMES:
        for metric in METRIC_NAMES:
            value = metrics["test"][model][metric]
            assert isinstance(value, float) and math.isfinite(value), (model, metric, value)
            assert metric == "log_loss" or 0 <= value <= 1, (model, metric, value)
    assert 0 < metrics["threshold"] < 1
    assert metrics["rows"] == 1200
    assert not list(trained_run.parent.glob(".*partial"))


def test_report_is_self_contained(trained_run: Path) -> None:
    page = (trained_run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert "Logistic regression" in page and "Gradient boosting" in page and "Keras network" in page
    assert "src='http" not in page and 'src="http' not in page


def test_model_card(trained_run: Path) -> None:
    card = json.loads((trained_run / "model_card.json").read_text())
    assert set(card["signature"]["outputs"]) == set(export.OUTPUTS)
    assert card["signature"]["outputs"]["churn_probability"].startswith("float32, shape [batch]")
    assert set(card["signatures"]) == {"serving_default", "with_customer_id"}
    assert card["calibration"]["method"] == "platt" and card["interval"]["confidence"] == 0.9
    assert card["data_fingerprint"]["rows"] == 1200
    assert card["run_id"] == trained_run.name
    assert "Dense(64, relu) -> Dense(32, relu) -> Dense(1" in card["architecture"]
    one_layer = export.architecture([128])
    assert one_layer.count("Dense(") == 2 and "Dense(128, relu) -> Dense(1" in one_layer
    assert "tensorflow" in " ".join(card["package_versions"]) and card["threshold"] > 0


def test_saved_model_matches_keras(trained_run: Path, small_csv: Path, small_config) -> None:
    frames = prepare_frames(data.load_dataset(small_csv), small_config)
    import keras

    model = keras.models.load_model(trained_run / "model.keras")
    signature = export.load_signature(trained_run / "model")
    outputs = export.signature_outputs(signature, data.features_of(frames.test))
    in_memory = model.predict(model_inputs(data.features_of(frames.test)), verbose=0).reshape(-1)
    assert outputs["raw_probability"].shape == in_memory.shape == (len(frames.test),)
    assert np.max(np.abs(outputs["raw_probability"] - in_memory)) < 1e-5
    answer = json.loads((trained_run / "intervals.json").read_text())
    calibrated = calibrate(in_memory, answer["calibration"])
    assert np.max(np.abs(outputs["churn_probability"] - calibrated)) < 1e-5
    assert export.signature_predict(signature, data.features_of(frames.test)).tolist() == \
        outputs["churn_probability"].tolist()


def test_serving_default_answers_the_whole_prediction(trained_run: Path, small_csv: Path, small_config) -> None:
    frames = prepare_frames(data.load_dataset(small_csv), small_config)
    signature = export.load_signature(trained_run / "model")
    assert set(signature.structured_input_signature[1]) == set(schema.FEATURES)  # the contract: inputs unchanged
    outputs = export.signature_outputs(signature, data.features_of(frames.test))
    rows = len(frames.test)
    assert list(outputs) == list(export.OUTPUTS)
    assert {k: (v.dtype.name, v.shape) for k, v in outputs.items()} == {
        "churn_probability": ("float32", (rows,)), "raw_probability": ("float32", (rows,)),
        "interval": ("float32", (rows, 2)), "churn": ("bool", (rows,))}
    probability, interval = outputs["churn_probability"], outputs["interval"]
    assert np.all(interval[:, 0] <= probability) and np.all(probability <= interval[:, 1])
    metrics = json.loads((trained_run / "metrics.json").read_text())
    answer = json.loads((trained_run / "intervals.json").read_text())
    assert metrics["threshold"] == answer["threshold"]
    assert outputs["churn"].tolist() == (probability >= np.float32(answer["threshold"])).tolist()
    assert metrics["uncalibrated"]["keras"]["roc_auc"] == pytest.approx(metrics["test"]["keras"]["roc_auc"], abs=0.01)


def test_with_customer_id_signature_echoes_the_ids(trained_run: Path, small_csv: Path, small_config) -> None:
    frames = prepare_frames(data.load_dataset(small_csv), small_config)
    features = data.features_of(frames.test)
    ids = frames.test[schema.ID_COLUMN].astype(str).to_numpy()
    plain = export.signature_outputs(export.load_signature(trained_run / "model"), features)
    with_id = export.signature_outputs(export.load_signature(trained_run / "model", export.ID_SIGNATURE),
                                       {**features, schema.ID_COLUMN: ids})
    assert list(with_id) == [*export.OUTPUTS, schema.ID_COLUMN]
    assert [v.decode() for v in with_id[schema.ID_COLUMN]] == ids.tolist()
    for name in export.OUTPUTS:
        np.testing.assert_array_equal(with_id[name], plain[name])


def test_same_seed_same_metrics(trained_run: Path, small_csv: Path, small_config, tmp_path: Path) -> None:
    again = train_run(small_config, small_csv, tmp_path / "again")
    first = json.loads((trained_run / "metrics.json").read_text())["test"]
    second = json.loads((again / "metrics.json").read_text())["test"]
    assert first == second


def test_failed_training_leaves_nothing(tmp_path: Path, small_config, monkeypatch: pytest.MonkeyPatch,
                                        small_csv: Path) -> None:
    import pipeline.training.train as train_module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(train_module, "write_baseline_stats", explode)
    with pytest.raises(RuntimeError):
        train_run(small_config, small_csv, tmp_path / "broken")
    assert list(tmp_path.iterdir()) == []


def test_cli_evaluate_and_export(trained_run: Path, tmp_path: Path) -> None:
    before = json.loads((trained_run / "metrics.json").read_text())
    result = runner.invoke(app, ["evaluate", str(trained_run)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(trained_run)
    assert json.loads((trained_run / "metrics.json").read_text())["test"] == before["test"]
    frame = data.load_dataset(Path(json.loads((trained_run / "data_fingerprint.json").read_text())["path"]))
    signature = export.load_signature(trained_run / "model")
    first = export.signature_outputs(signature, data.features_of(frame.head(50)))
    result = runner.invoke(app, ["export", str(trained_run)])
    assert result.exit_code == 0, result.output
    again = export.signature_outputs(export.load_signature(trained_run / "model"), data.features_of(frame.head(50)))
    for name in export.OUTPUTS:  # the re-export bakes in the same answer table
        np.testing.assert_allclose(again[name], first[name], atol=1e-6)


def test_cli_bad_run_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path / "missing")])
    # CliRunner skips main(), which prints a PipelineError as one line with exit code 2
    assert result.exit_code != 0 and isinstance(result.exception, RunDirError)
    assert str(result.exception) == f"{tmp_path / 'missing'}: run directory not found (train one with `churn train`)"


@pytest.mark.slow
def test_keras_matches_logistic_regression_on_sample(sample_csv: Path, tmp_path: Path) -> None:
    from pipeline.config import load_config

    config = load_config(None, [f"paths.artifacts={tmp_path}", "train.tensorboard=false"], environ={})
    run = train_run(config, sample_csv, tmp_path / "full")
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert metrics["keras"]["roc_auc"] >= metrics["logistic_regression"]["roc_auc"] - 0.01


def test_steps_per_execution_changes_speed_not_results(trained_run: Path, small_csv: Path, small_config,
                                                        tmp_path: Path) -> None:
    one_by_one = small_config.model_copy(deep=True)
    one_by_one.train.steps_per_execution = 1
    assert small_config.train.steps_per_execution > 1
    again = train_run(one_by_one, small_csv, tmp_path / "one-step-per-call")
    assert json.loads((again / "metrics.json").read_text())["test"] == \
        json.loads((trained_run / "metrics.json").read_text())["test"]
