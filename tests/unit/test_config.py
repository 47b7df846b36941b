from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import ConfigError


def test_defaults_are_the_article() -> None:
    config = Config()
    assert (config.split.test_size, config.split.random_state) == (0.2, 42)
    assert (config.train.epochs, config.train.batch_size, config.train.validation_split) == (10, 32, 0.2)
    assert config.train.hidden_units == [64, 32]
    assert config.serve.host == "127.0.0.1"


def test_local_yaml_is_valid() -> None:
    assert load_config(Path("configs/local.yaml"), environ={}).backend == "local"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch'"):
        load_config(path, environ={})


def test_set_override_is_typed() -> None:
    config = load_config(None, ["train.epochs=3", "split.stratify=false"], environ={})
    assert config.train.epochs == 3 and config.split.stratify is False


def test_environment_override() -> None:
    config = load_config(None, environ={"CHURN__TRAIN__BATCH_SIZE": "64"})
    assert config.train.batch_size == 64


def test_set_beats_environment() -> None:
    config = load_config(None, ["train.epochs=4"], environ={"CHURN__TRAIN__EPOCHS": "7"})
    assert config.train.epochs == 4


def test_bad_value_names_key() -> None:
    with pytest.raises(ConfigError, match=r"'train.epochs'"):
        load_config(None, ["train.epochs=zero"], environ={})


def test_malformed_set() -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["train.epochs"], environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml", environ={})
