"""Shared fixtures: small generated data and one trained run reused across tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.tensorflow_setup import configure_tensorflow

configure_tensorflow()  # what the `churn` entry point does before TensorFlow loads

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.fakes` must import however pytest was started
    sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "data" / "sample" / "customer_churn.csv"


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 generated rows: enough for every step, fast to train on."""
    from pipeline.tools import synth

    path = tmp_path_factory.mktemp("data") / "small.csv"
    synth.write_customers(synth.generate_customers(1200, seed=7), path)
    return path


@pytest.fixture(scope="session")
def small_config(tmp_path_factory: pytest.TempPathFactory):
    from pipeline.config import load_config

    artifacts = tmp_path_factory.mktemp("artifacts")
    return load_config(None, [f"paths.artifacts={artifacts}", "train.epochs=2", "train.tensorboard=false"],
                       environ={})


@pytest.fixture(scope="session")
def trained_run(small_csv: Path, small_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run directory (2 epochs on the small data), shared by the suite."""
    from pipeline.training.train import train_run

    return train_run(small_config, small_csv, tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """umask 022 for the test, so created modes are the usual 0755/0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)
