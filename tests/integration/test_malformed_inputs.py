"""Malformed-input corpus: bad CSVs and configs, through the loaders and through the CLI.

Every case is a small file made here from generated data. For each one the loader or config
reader raises its PipelineError with one line naming the file (default suite, fast); and
`churn train / monitor --current / predict --input / retrain --data` and config loading exit
2 with exactly one line on stderr, no traceback, nothing left behind and the input unchanged
(the per-command matrix is marked slow). The commands run in this process through
pipeline.cli.main, the console script's own entry point (a subprocess per case would import
TensorFlow each time); one slow test runs the real `churn` executable on a FIFO.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import load_config
from pipeline.errors import ConfigError, DataError, MonitoringError
from pipeline.monitoring.monitor import csv_chunks
from pipeline.tools import synth
from pipeline.training import data

ROOT = Path(__file__).resolve().parents[2]
MONITOR, PREDICT, TRAIN, RETRAIN = "monitor", "predict", "train", "retrain"
COMMANDS = (TRAIN, MONITOR, PREDICT, RETRAIN)
HUGE = 5_000_000


@dataclass(frozen=True)
class CsvCase:
    """A bad CSV: how to make it, what the loader's message says, and which commands
    accept it anyway (monitor counts bad values instead of refusing; predict needs no label)."""

    name: str
    make: Callable[[Path, list[str]], None]  # (path, lines of a valid file)
    fragment: str
    accepted_by: frozenset[str] = frozenset()


def _text(transform: Callable[[list[str]], list[str]]) -> Callable[[Path, list[str]], None]:
    return lambda path, lines: path.write_text("\n".join(transform(list(lines))) + "\n", encoding="utf-8")


def _bytes(transform: Callable[[bytes], bytes]) -> Callable[[Path, list[str]], None]:
    return lambda path, lines: path.write_bytes(transform(("\n".join(lines) + "\n").encode("utf-8")))


def _cell(row: int, column: str, value: str) -> Callable[[list[str]], list[str]]:
    """Set one field (data row `row`, from 0) of the comma-separated lines."""
    def change(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        fields = lines[row + 1].split(",")
        fields[header.index(column)] = value
        lines[row + 1] = ",".join(fields)
        return lines
    return change


def _drop_column(column: str) -> Callable[[list[str]], list[str]]:
    def change(lines: list[str]) -> list[str]:
        index = lines[0].split(",").index(column)
        return [",".join(f for i, f in enumerate(line.split(",")) if i != index) for line in lines]
    return change


def _add_column(name: str, value: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [lines[0] + f",{name}"] + [line + f",{value}" for line in lines[1:]]


def _all_labels(value: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [lines[0]] + [line.rsplit(",", 1)[0] + f",{value}" for line in lines[1:]]


def _special(kind: str) -> Callable[[Path, list[str]], None]:
    def make(path: Path, lines: list[str]) -> None:
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "unreadable":
            path.write_text("\n".join(lines) + "\n")
            path.chmod(0)
    return make


MONITOR_COUNTS = frozenset({MONITOR})  # monitor counts the value (missing or unseen), exit 0
NO_LABEL_NEEDED = frozenset({MONITOR, PREDICT})
BOM = b"\xef\xbb\xbf"
CSV_CASES = [
    CsvCase("empty", _bytes(lambda raw: b""), "file is empty"),
    CsvCase("blank_lines", _bytes(lambda raw: b"\n  \n\n"), "file is empty"),
    CsvCase("header_only", _text(lambda lines: lines[:1]), "no data rows"),
    CsvCase("bom_header_only", _bytes(lambda raw: BOM + raw.split(b"\n")[0] + b"\n"), "no data rows"),
    CsvCase("semicolons", _text(lambda lines: [line.replace(",", ";") for line in lines]), "comma-separated"),
    CsvCase("tabs", _text(lambda lines: [line.replace(",", "\t") for line in lines]), "comma-separated"),
    CsvCase("header_trailing_comma", _text(lambda lines: [lines[0] + ","] + lines[1:]),
            "line 1, column 22 of the header has no name (a trailing comma?)"),
    CsvCase("saved_index_column", _text(lambda lines: ["," + lines[0]] + [f"{i},{line}" for i, line in
                                                                          enumerate(lines[1:])]),
            "line 1, column 1 of the header has no name (a saved index column?)"),
    CsvCase("trailing_comma_first_row", _text(lambda lines: [lines[0], lines[1] + ","] + lines[2:]),
            "line 2 has 22 fields but the header has 21"),
    CsvCase("extra_field_later", _text(lambda lines: lines[:30] + [lines[30] + ",x"] + lines[31:]),
            "line 31 has 22 fields"),
    CsvCase("short_row", _text(lambda lines: lines[:10] + [lines[10].rsplit(",", 1)[0]] + lines[11:]),
            "line 11 has 20 fields"),
    CsvCase("unclosed_quote", _text(_cell(4, "gender", '"Male')), "line 6 has"),
    CsvCase("binary_junk", _bytes(lambda raw: random.Random(9).randbytes(6000)), "not valid UTF-8"),
    CsvCase("latin1_value", _bytes(lambda raw: raw.replace(b"Electronic check", b"Electr\xf3nic check", 1)),
            "is not valid UTF-8"),
    CsvCase("latin1_header", _bytes(lambda raw: raw.replace(b"gender", b"g\xe9nder", 1)), "line 1, byte"),
    CsvCase("utf16", _bytes(lambda raw: raw.decode("utf-8").encode("utf-16")), "not valid UTF-8"),
    CsvCase("nul_in_value", _text(_cell(2, "gender", "Ma\x00le")), "column gender, line 4", MONITOR_COUNTS),
    CsvCase("huge_field", _text(_cell(1, "gender", "x" * HUGE)), f"{HUGE:,} characters", MONITOR_COUNTS),
    CsvCase("huge_header", _text(lambda lines: [lines[0] + "," + "h" * 2_000_000] + lines[1:]),
            "header line is longer"),
    CsvCase("missing_column", _text(_drop_column("Contract")), "missing"),
    CsvCase("duplicate_column", _text(_add_column("Contract", "One year")), "duplicated column(s) Contract"),
    CsvCase("label_twice", _text(_add_column("churn", "No")), "duplicated column(s) Churn", MONITOR_COUNTS),
    CsvCase("extra_column", _text(_add_column("Region", "north")), "unexpected column(s) Region",
            MONITOR_COUNTS),
    CsvCase("no_header", _text(lambda lines: lines[1:]), "header"),
    CsvCase("one_class", _text(_all_labels("No")), "'No' on every row", NO_LABEL_NEEDED),
    CsvCase("nan_label", _text(_cell(2, "Churn", "NaN")), "column Churn, line 4", MONITOR_COUNTS),
    CsvCase("blank_label", _text(_cell(3, "Churn", "")), "column Churn, line 5", MONITOR_COUNTS),
    CsvCase("underscore_number", _text(_cell(5, "TotalCharges", "1_000")), "column TotalCharges, line 7",
            MONITOR_COUNTS),
    CsvCase("arabic_digit", _text(_cell(5, "tenure", "\u0663")), "column tenure, line 7", MONITOR_COUNTS),
    CsvCase("infinity", _text(_cell(6, "MonthlyCharges", "inf")), "column MonthlyCharges, line 8",
            MONITOR_COUNTS),
    CsvCase("out_of_range", _text(_cell(7, "tenure", "999")), "out of range", MONITOR_COUNTS),
    CsvCase("markup_value", _text(_cell(8, "gender", "[/]")), "'[/]'", MONITOR_COUNTS),
    CsvCase("quoted_line_break", _text(_cell(9, "PaymentMethod", '"Mailed\ncheck"')), "column PaymentMethod",
            MONITOR_COUNTS),
    CsvCase("duplicate_id", _text(lambda lines: lines[:12] + [lines[3]] + lines[13:]), "duplicated customerID",
            frozenset({MONITOR, PREDICT})),
    CsvCase("fifo", _special("fifo"), "is a named pipe (FIFO)"),
    CsvCase("directory", _special("directory"), "is a directory"),
    CsvCase("missing_file", _special("missing"), "file not found"),
    CsvCase("unreadable", _special("unreadable"), "permission denied"),
]


@pytest.fixture(scope="module")
def valid_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = synth.write_customers(synth.generate_customers(120, seed=5), tmp_path_factory.mktemp("valid") / "ok.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"Yes", "No"}
    return lines


@pytest.fixture()
def deny_reads_as_root(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Root reads mode-000 files: make open() of that one path fail as it would for a user."""
    def deny(path: Path) -> None:
        if os.geteuid() != 0:
            return
        real_open = os.open

        def refusing_open(target, *args, **kwargs):  # type: ignore[no-untyped-def]
            if os.fspath(target) == os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(target))
            return real_open(target, *args, **kwargs)
        monkeypatch.setattr(os, "open", refusing_open)
    return deny


def make_case(case: CsvCase, directory: Path, lines: list[str], deny: Callable[[Path], None]) -> Path:
    path = directory / f"{case.name}.csv"
    case.make(path, lines)
    if case.name == "unreadable":
        deny(path)
    return path


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message, message
    assert len(message) < 600, message[:600]
    return message


# --- fast: the reader behind every command, on every case -----------------------------------

@pytest.mark.parametrize("case", CSV_CASES, ids=lambda case: case.name)
def test_loader_refuses_each_case_in_one_line(case: CsvCase, tmp_path: Path, valid_lines: list[str],
                                              deny_reads_as_root: Callable[[Path], None]) -> None:
    path = make_case(case, tmp_path, valid_lines, deny_reads_as_root)
    with pytest.raises(DataError) as caught:
        data.load_dataset(path)
    message = one_line(str(caught.value))
    assert message.startswith(f"{path}: ") and case.fragment in message, message


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda case: case.name)
def test_monitor_reader_on_each_case(case: CsvCase, tmp_path: Path, valid_lines: list[str],
                                     deny_reads_as_root: Callable[[Path], None]) -> None:
    path = make_case(case, tmp_path, valid_lines, deny_reads_as_root)
    if MONITOR in case.accepted_by:
        frames = list(csv_chunks(path))
        assert sum(len(frame) for frame in frames) >= 100
        return
    with pytest.raises(MonitoringError) as caught:
        list(csv_chunks(path))
    assert one_line(str(caught.value)).startswith(f"{path}: ")


# --- configs: files, environment and --set --------------------------------------------------

ALIAS_BOMB = "train:\n  hidden_units: [" + ", ".join(
    ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdef", "bcdefg", strict=True)]) + "]\n"


@dataclass(frozen=True)
class ConfigCase:
    """A bad config: the file's bytes (None: no file, or `kind`), environment, --set, and
    what the one-line message starts with and contains."""

    name: str
    content: bytes | None = None
    kind: str = "file"
    environ: tuple[tuple[str, str], ...] = ()
    sets: tuple[str, ...] = ()
    starts: str = "{path}: "
    fragment: str = ""


CONFIG_CASES = [
    ConfigCase("alias_bomb", ALIAS_BOMB.encode(), fragment="anchors (&name) are not allowed"),
    ConfigCase("alias", b"train:\n  epochs: *x\n", fragment="aliases"),
    ConfigCase("python_tag", b"train:\n  epochs: !!python/object/apply:os.system ['touch pwned']\n",
               fragment="tags"),
    ConfigCase("deep_nesting", b"train: " + b"[" * 5000 + b"]" * 5000 + b"\n", fragment="nested deeper"),
    ConfigCase("duplicate_key", b"train:\n  epochs: 1\n  epochs: 2\n", fragment="duplicate key"),
    ConfigCase("bad_syntax", b"train: {epochs: 3\n", fragment="line 2"),
    ConfigCase("tab_indent", b"train:\n\tepochs: 3\n", fragment="line 2, column 1"),
    ConfigCase("two_documents", b"train: {}\n---\nsplit: {}\n", fragment="another document"),
    ConfigCase("top_level_list", b"- train\n", fragment="mapping of sections"),
    ConfigCase("unknown_key", b"train:\n  epoch: 3\n", fragment="unknown key 'train.epoch'"),
    ConfigCase("huge_wrong_value", b"train:\n  epochs: " + b"9" * 300 + b"x" * 300_000 + b"\n",
               fragment="300,300 characters"),
    ConfigCase("huge_file", b"# " + b"x" * (2 << 20) + b"\n", fragment="larger than"),
    ConfigCase("non_utf8", "train:\n  epochs: 3  # café\n".encode("latin-1"), fragment="not valid UTF-8"),
    ConfigCase("utf16", "train:\n  epochs: 3\n".encode("utf-16"), fragment="not valid UTF-8"),
    ConfigCase("binary_junk", random.Random(3).randbytes(3000), fragment="not valid UTF-8"),
    ConfigCase("directory", kind="directory", fragment="is a directory"),
    ConfigCase("fifo", kind="fifo", fragment="is a named pipe"),
    ConfigCase("missing_file", kind="missing", fragment="file not found"),
    ConfigCase("unreadable", b"train:\n  epochs: 3\n", kind="unreadable", fragment="permission denied"),
    ConfigCase("env_not_yaml", kind="none", environ=(("CHURN__TRAIN__EPOCHS", "{"),),
               starts="environment CHURN__TRAIN__EPOCHS: ", fragment="not valid YAML"),
    ConfigCase("env_tag", kind="none", environ=(("CHURN__TRAIN__EPOCHS", "!!python/object/apply:os.getpid []"),),
               starts="environment CHURN__TRAIN__EPOCHS: ", fragment="tags"),
    ConfigCase("env_alias", kind="none", environ=(("CHURN__TRAIN__HIDDEN_UNITS", "[&a [1], *a]"),),
               starts="environment CHURN__TRAIN__HIDDEN_UNITS: ", fragment="anchors"),
    ConfigCase("env_wrong_type", kind="none", environ=(("CHURN__TRAIN__EPOCHS", "ten"),),
               starts="environment CHURN__TRAIN__EPOCHS: ", fragment="valid integer"),
    ConfigCase("env_config_directory", kind="none", environ=(("CHURN_CONFIG", "/"),),
               starts="/: ", fragment="is a directory"),
    ConfigCase("set_not_yaml", kind="none", sets=("train.epochs=[1,",), starts="--set train.epochs: ",
               fragment="not valid YAML"),
    ConfigCase("set_tag", kind="none", sets=("vertex.project=!!binary aGk=",), starts="--set vertex.project: ",
               fragment="tags"),
    ConfigCase("set_huge", kind="none", sets=("train.epochs=" + "y" * 1_000_000,), starts="--set train.epochs: ",
               fragment="1,000,000 characters"),
    ConfigCase("set_without_value", kind="none", sets=("train.epochs",), starts="--set 'train.epochs'",
               fragment="section.key=value"),
]


def make_config(case: ConfigCase, directory: Path, deny: Callable[[Path], None]) -> Path | None:
    if case.kind == "none":
        return None
    path = directory / f"{case.name}.yaml"
    if case.kind == "directory":
        path.mkdir()
    elif case.kind == "fifo":
        os.mkfifo(path)
    elif case.content is not None:
        path.write_bytes(case.content)
    if case.kind == "unreadable":
        path.chmod(0)
        deny(path)
    return path


@pytest.mark.parametrize("case", CONFIG_CASES, ids=lambda case: case.name)
def test_config_loader_refuses_each_case_in_one_line(case: ConfigCase, tmp_path: Path,
                                                     deny_reads_as_root: Callable[[Path], None]) -> None:
    path = make_config(case, tmp_path, deny_reads_as_root)
    with pytest.raises(ConfigError) as caught:
        load_config(path, case.sets, environ=dict(case.environ))
    message = one_line(str(caught.value))
    assert message.startswith(case.starts.format(path=path)) and case.fragment in message, message


# --- through the command line ---------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_churn(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """`churn ARGV` through the console script's entry point, in this process."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["churn", *argv])
    code = 0
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its bytes (directories as 'dir')."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def input_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


@pytest.fixture()
def workspace(small_config, small_csv: Path, trained_run: Path, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Artifacts with a champion registered (monitor, predict and retrain need one)."""
    from pipeline.registry.local_registry import LocalRegistry

    config = small_config.model_copy(deep=True)
    config.paths.artifacts = tmp_path / "artifacts"
    LocalRegistry.from_config(config).upload(trained_run)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    yield {"artifacts": config.paths.artifacts, "inputs": inputs, "outputs": tmp_path / "outputs",
           "data": small_csv}


def command_args(command: str, path: Path, space: dict[str, Path]) -> list[str]:
    sets = ["--set", f"paths.artifacts={space['artifacts']}", "--set", f"data.path={space['data']}",
            "--set", "train.epochs=1", "--set", "train.tensorboard=false"]
    if command == TRAIN:
        return [TRAIN, "--data", str(path), *sets]
    if command == MONITOR:
        return [MONITOR, "--current", str(path), "--model", "churn@champion", *sets]
    if command == PREDICT:
        return [PREDICT, "--input", str(path), "--output", str(space["outputs"] / "scores.csv"),
                "--model", "churn@champion", *sets]
    return [RETRAIN, "--data", str(path), *sets]


def assert_refused(outcome: Outcome, named: str) -> None:
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2, (outcome.code, outcome.stderr[-2000:])
    assert len(lines) == 1, outcome.stderr[-2000:]
    assert lines[0].startswith("error: ") and named in lines[0] and "Traceback" not in outcome.stderr
    assert len(lines[0]) < 600


def check_command_on_case(command: str, case: CsvCase, space: dict[str, Path], deny: Callable[[Path], None],
                          lines: list[str], capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_case(case, space["inputs"], lines, deny)
    before, digest = tree(space["artifacts"]), input_digest(path)
    outcome = run_churn(command_args(command, path, space), capsys, monkeypatch)
    assert input_digest(path) == digest and sorted(p.name for p in space["inputs"].iterdir()) == (
        [path.name] if case.name != "missing_file" else [])
    if command in case.accepted_by:
        assert outcome.code == 0, outcome.stderr[-2000:]
        if command == MONITOR:  # values are echoed into drift.json: never whole
            drift = next(space["artifacts"].rglob("drift.json")).read_text()
            assert len(drift) < 200_000 and "x" * 300 not in drift
        return
    assert_refused(outcome, str(path))
    assert tree(space["artifacts"]) == before, "a refused command left files behind"
    assert not space["outputs"].exists() or not list(space["outputs"].iterdir())


@pytest.mark.parametrize("command, name", [
    (TRAIN, "trailing_comma_first_row"), (TRAIN, "fifo"), (TRAIN, "one_class"), (RETRAIN, "binary_junk"),
    (MONITOR, "trailing_comma_first_row"), (MONITOR, "huge_field"), (PREDICT, "markup_value"),
    (PREDICT, "underscore_number"),
])
def test_representative_commands(command: str, name: str, workspace: dict[str, Path], valid_lines: list[str],
                                 deny_reads_as_root: Callable[[Path], None], capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(case for case in CSV_CASES if case.name == name)
    check_command_on_case(command, case, workspace, deny_reads_as_root, valid_lines, capsys, monkeypatch)


@pytest.mark.parametrize("name", ["alias_bomb", "python_tag", "env_not_yaml", "non_utf8"])
def test_representative_configs(name: str, tmp_path: Path, deny_reads_as_root: Callable[[Path], None],
                                capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    check_config_case(next(c for c in CONFIG_CASES if c.name == name), MONITOR, tmp_path, deny_reads_as_root,
                      capsys, monkeypatch)


def check_config_case(case: ConfigCase, command: str, tmp_path: Path, deny: Callable[[Path], None],
                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_config(case, tmp_path, deny)
    for name, value in case.environ:
        monkeypatch.setenv(name, value)
    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv("CHURN__PATHS__ARTIFACTS", str(artifacts))
    argv = [command, *(["--config", str(path)] if path is not None else [])]
    argv += [part for item in case.sets for part in ("--set", item)]
    argv += {MONITOR: ["--current", str(ROOT / "data/sample/customer_churn.csv")],
             TRAIN: ["--data", str(ROOT / "data/sample/customer_churn.csv")]}[command]
    outcome = run_churn(argv, capsys, monkeypatch)
    assert_refused(outcome, case.starts.format(path=path).rstrip(": "))
    assert not artifacts.exists() and not (ROOT / "pwned").exists()


# --- slow: every command on every case ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CSV_CASES, ids=lambda case: case.name)
def test_every_command_on_every_csv_case(command: str, case: CsvCase, workspace: dict[str, Path],
                                         valid_lines: list[str], deny_reads_as_root: Callable[[Path], None],
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    check_command_on_case(command, case, workspace, deny_reads_as_root, valid_lines, capsys, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("command", [TRAIN, MONITOR])
@pytest.mark.parametrize("case", CONFIG_CASES, ids=lambda case: case.name)
def test_every_config_case_through_the_cli(command: str, case: ConfigCase, tmp_path: Path,
                                           deny_reads_as_root: Callable[[Path], None],
                                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    check_config_case(case, command, tmp_path, deny_reads_as_root, capsys, monkeypatch)


@pytest.mark.slow
def test_real_churn_executable_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CHURN__PATHS__ARTIFACTS": str(tmp_path / "artifacts")}
    result = subprocess.run([str(ROOT / ".venv/bin/churn"), "train", "--data", str(fifo)], env=env,
                            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {fifo}: is a named pipe (FIFO), expected a CSV file (pass --data PATH or set data.path)"]
    assert not (tmp_path / "artifacts").exists()
