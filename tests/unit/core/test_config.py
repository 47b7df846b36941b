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


# Nested aliases under a real key: each level repeats the one before 9 times, so about 350
# bytes stand for 9**6 strings (safe_load shares them; the error message used to spell them out).
ALIAS_BOMB = "train:\n  epochs: [" + ", ".join(
    ['&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
) + "]\n"


def refused(path: Path | None = None, sets: tuple[str, ...] = (), environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, sets, environ=environ or {})
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_alias_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    import resource

    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 500
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = refused(path)
    assert str(path) in message and "anchors" in message and "line 2" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


@pytest.mark.parametrize("text, fragment", [
    ("train:\n  epochs: *x\n", "aliases"),
    ("train: &t {epochs: 3}\n", "anchors"),
    ("train:\n  epochs: !!python/object/apply:os.system ['true']\n", "tags"),
    ("train:\n  epochs: !!int 3\n", "tags"),
    ("train: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("train:\n  epochs: 1\n  epochs: 2\n", "duplicate key 'epochs'"),
    ("train: [\n", "line 2"),
    ("train:\n\tepochs: 3\n", "line 2, column 1"),
    ("a: 1\n---\nb: 2\n", "another document"),
])
def test_bad_yaml_files_are_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    message = refused(path)
    assert message.startswith(f"{path}: ") and fragment in message, message


@pytest.mark.parametrize("value, fragment", [
    ("{", "not valid YAML"),
    ("!!python/object/apply:os.system ['true']", "tags"),
    ("[*a, *a]", "aliases"),
    ("&a 3", "anchors"),
])
def test_bad_override_values_name_the_variable_or_option(value: str, fragment: str) -> None:
    message = refused(environ={"CHURN__TRAIN__EPOCHS": value})
    assert message.startswith("environment CHURN__TRAIN__EPOCHS: ") and fragment in message
    message = refused(sets=(f"train.epochs={value}",))
    assert message.startswith("--set train.epochs: ") and fragment in message


def test_wrong_override_value_names_its_origin_and_is_cut() -> None:
    message = refused(environ={"CHURN__TRAIN__EPOCHS": "x" * 100_000})
    assert message.startswith("environment CHURN__TRAIN__EPOCHS: 'train.epochs'")
    assert "100,000 characters" in message
    assert refused(sets=("train.epochs=0",)).startswith("--set train.epochs: 'train.epochs'")


def test_non_utf8_config(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("train:\n  epochs: 3 # café\n".encode("latin-1"))
    assert refused(path) == f"{path}: line 2, byte 18 is not valid UTF-8 (re-save the file as UTF-8)"


def test_unreadable_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = tmp_path / "secret.yaml"
    path.write_text("train:\n  epochs: 3\n")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads mode-000 files: make open() fail as it would for a user
        real_open = os.open
        monkeypatch.setattr(os, "open", lambda p, *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied"))
                            if str(p) == str(path) else real_open(p, *a, **k))
    assert refused(path).startswith(f"{path}: permission denied")


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_config_that_is_not_a_file(tmp_path: Path, kind: str) -> None:
    import os

    path = tmp_path / "config.yaml"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    message = refused(path)
    assert message.startswith(f"{path}: is a") and "expected a YAML config file" in message


def test_config_env_variable_file_is_checked_the_same(tmp_path: Path) -> None:
    assert refused(environ={"CHURN_CONFIG": str(tmp_path)}).startswith(f"{tmp_path}: is a directory")


def test_huge_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (2 << 20) + "\n")
    assert "larger than" in refused(path)


def test_override_values_are_still_typed_yaml() -> None:
    config = load_config(None, ["train.hidden_units=[128, 64]", "vertex.kms_key_name=null",
                                "registry.labels={team: churn}"], environ={"CHURN__VERTEX__PROJECT": "1234"})
    assert config.train.hidden_units == [128, 64] and config.vertex.kms_key_name is None
    assert config.registry.labels == {"team": "churn"} and config.vertex.project == "1234"
