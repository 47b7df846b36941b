"""Every registry command against a corpus of broken registry files.

A command that needs a broken file exits 2 with exactly one line on stderr naming the file
and how to repair it, no traceback, and leaves every registry file byte for byte as it was;
a command that does not need it still works. (`churn deploy` is left out: locally it starts
a server, and it resolves models with the same code as `models show`.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.registry.local_registry import LocalRegistry
from tests.fakes.locations import run_churn, snapshot
from tests.fakes.registry_runs import fake_run

COMMANDS = {
    "list": ["models", "list"],
    "show-3": ["models", "show", "churn@3"],
    "show-champion": ["models", "show", "churn@champion"],
    "promote": ["models", "promote", "3", "--alias", "champion"],
    "rollback": ["models", "rollback"],
    "upload": ["upload", "{run}"],
}
WRITES = {"promote", "rollback", "upload"}
EVERYTHING = set(COMMANDS)


def _write(relative: str, text: str) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        (root / relative).write_text(text, encoding="utf-8")
    return breaker


def _folder_instead(relative: str) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        path = root / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        (path / "inside").mkdir(parents=True)
    return breaker


def _append(relative: str, text: str) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        with (root / relative).open("a", encoding="utf-8") as handle:
            handle.write(text)
    return breaker


def _mkdir(relative: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).mkdir()


def _file_instead_of_versions(root: Path) -> None:
    (root / "versions").rename(root / "moved-versions")
    (root / "versions").write_text("not a folder\n")


# name -> (break the registry, the file the message must name, the commands that fail)
CASES: dict[str, tuple[Callable[[Path], None], str, set[str]]] = {
    "aliases-a-list": (_write("aliases.json", "[1, 2]\n"), "aliases.json", EVERYTHING),
    "aliases-truncated": (_write("aliases.json", '{"champion": 2, "def'), "aliases.json", EVERYTHING),
    "alias-not-a-number": (_write("aliases.json", '{"champion": "two", "default": 3}'), "aliases.json", EVERYTHING),
    "alias-arabic-digit": (_write("aliases.json", '{"champion": "\u0663", "default": 3}'), "aliases.json",
                           EVERYTHING),
    "alias-true": (_write("aliases.json", '{"champion": true, "default": 3}'), "aliases.json", EVERYTHING),
    "aliases-a-folder": (_folder_instead("aliases.json"), "aliases.json", EVERYTHING),
    # promote and rollback repair it; only the broken alias itself cannot be shown
    "alias-unregistered": (_write("aliases.json", '{"champion": 9, "default": 3}'), "aliases.json",
                           {"show-champion"}),
    "history-corrupt-line": (_append("history.jsonl", "{not json\n"), "history.jsonl", WRITES),
    "history-cut-short": (_append("history.jsonl", '{"time": "2026-01-01", "alias": "champ'), "history.jsonl",
                          WRITES),
    "history-wrong-shape": (_append("history.jsonl", '{"alias": "champion", "to": "x", "kind": "promote"}\n'),
                            "history.jsonl", WRITES),
    "history-a-folder": (_folder_instead("history.jsonl"), "history.jsonl", WRITES),
    "version-arabic-digit": (_mkdir("versions/\u0663"), "versions/\u0663", WRITES | {"list"}),
    "version-leading-zero": (_mkdir("versions/03"), "versions/03", WRITES | {"list"}),
    "version-a-file": (_write("versions/4", "stray\n"), "versions/4", WRITES | {"list"}),
    "versions-a-file": (_file_instead_of_versions, "versions", EVERYTHING),
    "version-json-corrupt": (_write("versions/3/version.json", "{"), "versions/3/version.json",
                             {"list", "show-3", "promote"}),
    "version-json-a-list": (_write("versions/3/version.json", "[]"), "versions/3/version.json",
                            {"list", "show-3", "promote"}),
    "version-json-no-metrics": (_write("versions/3/version.json", json.dumps(
        {"version": 3, "run_id": "c", "created_at": "x", "threshold": 0.4})), "versions/3/version.json",
        {"list", "show-3", "promote"}),
    "version-json-a-folder": (_folder_instead("versions/3/version.json"), "versions/3/version.json",
                              {"list", "show-3", "promote"}),
    "lock-a-folder": (_folder_instead(".lock"), ".lock", WRITES),
}


def _registry(tmp_path: Path) -> Path:
    """Three versions; champion moved 1 -> 2 (so a rollback has somewhere to go)."""
    registry = LocalRegistry(tmp_path / "artifacts" / "registry", "churn")
    for name in "abc":
        registry.upload(fake_run(tmp_path / "runs", name))
    registry.promote(2, "champion")
    return registry.root


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_command_on_broken_registry(case: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = _registry(tmp_path)
    breaker, named, failing = CASES[case]
    breaker(root)
    before = snapshot(root)
    run = fake_run(tmp_path / "runs", "new")
    args = [part.format(run=run) for part in COMMANDS[command]]
    code, out, err = run_churn([*args, "--set", f"paths.artifacts={tmp_path / 'artifacts'}"], monkeypatch, capsys)
    if command not in failing:
        assert code == 0, err
        return
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(root / named) in err and "repair:" in err, err
    assert snapshot(root) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]


def test_history_is_repaired_by_hand_then_rollback_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = _registry(tmp_path)
    history = root / "history.jsonl"
    good = history.read_bytes()
    history.write_bytes(good + b'{"time": "cut sh')
    settings = ["--set", f"paths.artifacts={tmp_path / 'artifacts'}"]
    assert run_churn(["models", "rollback", *settings], monkeypatch, capsys)[0] == 2
    history.write_bytes(good)  # the repair the message asks for: delete the broken line
    code, _, err = run_churn(["models", "rollback", *settings], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads((root / "aliases.json").read_text())["champion"] == 1


def test_an_event_is_never_glued_to_a_line_cut_short(tmp_path: Path) -> None:
    root = _registry(tmp_path)
    history = root / "history.jsonl"
    history.write_bytes(history.read_bytes().rstrip(b"\n"))  # a valid last line, its newline lost
    registry = LocalRegistry(root.parent, "churn")
    registry.promote(3, "champion")
    assert [event["to"] for event in registry.history() if event["alias"] == "champion"][-2:] == [2, 3]
