"""`churn predict` (batch scoring) and `churn logs export` through the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.errors import DataError, PipelineError
from pipeline.serving import predlog
from pipeline.serving.instances import EXAMPLE_INSTANCE, validate_payload
from pipeline.serving.scorer import Scores
from pipeline.training import data, export

runner = CliRunner()


def settings_args(tmp_path: Path) -> list[str]:
    return ["--set", f"paths.artifacts={tmp_path / 'artifacts'}"]


def test_predict_scores_every_row_in_chunks(trained_run: Path, small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["predict", "--input", str(small_csv), "--output", str(out), "--model",
                                 str(trained_run), "--chunk-rows", "250", *settings_args(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    scores = pd.read_csv(out)
    source = data.load_dataset(small_csv)
    assert list(scores.columns) == ["customerID", "churn_probability", "interval_lower", "interval_upper", "churn"]
    assert scores["customerID"].tolist() == source["customerID"].tolist()
    signature = export.load_signature(trained_run / "model")
    reference = export.signature_predict(signature, data.features_of(source))
    assert np.max(np.abs(scores["churn_probability"].to_numpy() - reference)) < 1e-5
    assert (scores["interval_lower"] <= scores["interval_upper"]).all()
    assert set(scores["churn"]) <= {"Yes", "No"}
    assert out.stat().st_mode & 0o777 == 0o600  # customer IDs: the owner's only


def test_predict_stops_at_a_bad_row_and_writes_nothing(trained_run: Path, small_csv: Path,
                                                       tmp_path: Path) -> None:
    frame = pd.read_csv(small_csv, dtype=str, keep_default_na=False).drop(columns=["Churn"])
    frame.loc[7, "Contract"] = "Weekly"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["predict", "--input", str(bad), "--output", str(out), "--model",
                                 str(trained_run), "--chunk-rows", "5", *settings_args(tmp_path)])
    # CliRunner skips main(), which prints a PipelineError as one line with exit code 2
    assert result.exit_code != 0 and isinstance(result.exception, DataError)
    assert str(result.exception).startswith(f"{bad}: column Contract, line 9: unknown value 'Weekly'")
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def write_log(path: Path, requests: int) -> None:
    log = predlog.PredictionLog(path).open()

    async def append() -> None:
        for number in range(requests):
            batch, instances = validate_payload({"instances": [dict(EXAMPLE_INSTANCE, tenure=number)] * 2}, 10)
            scores = Scores(np.array([0.2, 0.3]), np.array([0.1, 0.2]), np.array([0.3, 0.4]),
                            np.array([False, True]))
            await log.append(predlog.request_record(f"r{number}", predlog.utc_timestamp(), "7", "churn-endpoint",
                                                    0.4, instances, batch.numeric[:, 3], batch.customer_ids,
                                                    scores))

    asyncio.run(append())
    log.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_logs_export(tmp_path: Path, suffix: str) -> None:
    write_log(tmp_path / "artifacts" / "predictions.sqlite", requests=30)
    out = tmp_path / f"log{suffix}"
    result = runner.invoke(app, ["logs", "export", "--out", str(out), "--since", "1h", "--chunk-rows", "7",
                                 *settings_args(tmp_path)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(frame) == 60 and frame["tenure"].tolist()[:4] == [0, 0, 1, 1]
    assert {"request_id", "timestamp", "model_version", "churn_probability", "Contract"} <= set(frame.columns)
    assert out.stat().st_mode & 0o777 == 0o600  # customer IDs: the owner's only


def test_logs_export_with_nothing_new_is_an_error(tmp_path: Path) -> None:
    write_log(tmp_path / "artifacts" / "predictions.sqlite", requests=1)
    out = tmp_path / "log.csv"
    result = runner.invoke(app, ["logs", "export", "--out", str(out), "--since", "2999-01-01",
                                 *settings_args(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, PipelineError)
    assert "no predictions logged since 2999-01-01" in str(result.exception)
    assert not out.exists()
