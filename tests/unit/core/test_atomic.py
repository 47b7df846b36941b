"""pipeline.core.atomic: outputs appear whole, never replace what is not theirs, get sane modes,
fail in one line on unwritable locations, and leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.core import atomic
from pipeline.errors import OutputError
from tests.fakes.locations import mode, read_only_folder, snapshot, tiny_folder

pytestmark = pytest.mark.usefixtures("usual_umask")


def users_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    (folder / "sub" / "data.csv").write_text("a,b\n")
    return folder


def test_a_non_empty_folder_is_refused_and_untouched(tmp_path: Path) -> None:
    folder = users_folder(tmp_path)
    folder.chmod(0o750)
    before = snapshot(folder)
    with pytest.raises(OutputError, match="not empty; nothing in it was touched"), \
            atomic.staged_directory(folder) as staging:
        (staging / "drift.json").write_text("{}")
    assert snapshot(folder) == before and mode(folder) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_a_file_is_refused_as_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("mine")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        atomic.check_new_directory(target)
    assert target.read_text() == "mine"


def test_the_current_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(users_folder(tmp_path))
    before = snapshot(Path.cwd())
    with pytest.raises(OutputError, match="not empty"):
        atomic.check_new_directory(Path("."))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    with pytest.raises(OutputError, match="current directory"):
        atomic.check_new_directory(Path("."))
    assert snapshot(tmp_path / "mine") == before


def test_an_empty_folder_is_taken_and_folders_get_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    with atomic.staged_directory(target) as staging:
        atomic.write_text(staging / "a.txt", "x")
    assert (target / "a.txt").read_text() == "x"
    assert mode(target) == 0o755 and mode(target / "a.txt") == 0o644
    os.umask(0o027)
    with atomic.staged_directory(tmp_path / "group") as staging:
        atomic.write_text(staging / "b.txt", "x")
    assert mode(tmp_path / "group") == 0o750 and mode(tmp_path / "group" / "b.txt") == 0o640


def test_private_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0)
    atomic.write_text(tmp_path / "ids.csv", "customerID\n1\n", private=True)
    assert mode(tmp_path / "ids.csv") == 0o600
    (tmp_path / "old.csv").write_text("x")
    (tmp_path / "old.csv").chmod(0o644)
    atomic.write_text(tmp_path / "old.csv", "customerID\n", private=True)
    assert mode(tmp_path / "old.csv") == 0o600


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "README.md"
    target.write_text("old")
    target.chmod(0o664)
    atomic.write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o664


def test_a_linked_file_is_replaced_through_its_link(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("old")
    (tmp_path / "README.md").symlink_to(tmp_path / "docs" / "README.md")
    atomic.write_text(tmp_path / "README.md", "new")
    assert (tmp_path / "README.md").is_symlink() and (tmp_path / "docs" / "README.md").read_text() == "new"


def test_replace_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("mine")
    with pytest.raises(OutputError, match="already exists"):
        atomic.write_text(target, "theirs", replace=False)
    assert target.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["scores.csv"]
    atomic.write_text(tmp_path / "new.csv", "ok", replace=False)
    assert (tmp_path / "new.csv").read_text() == "ok"


def test_a_file_appearing_during_the_write_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    with pytest.raises(OutputError, match="appeared while this command ran"), \
            atomic.writer(target, replace=False) as handle:
        handle.write(b"ours")
        target.write_text("someone else's")
    assert target.read_text() == "someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_temporary_names_are_unique_and_never_anyone_elses(tmp_path: Path) -> None:
    # The fixed `.NAME.partial` temporary of old: someone's file by that name was deleted.
    bystander = tmp_path / ".scores.csv.partial"
    bystander.write_text("not ours")
    with pytest.raises(RuntimeError), atomic.writer(tmp_path / "scores.csv") as handle:
        handle.write(b"half")
        raise RuntimeError("failed midway")
    assert bystander.read_text() == "not ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".scores.csv.partial"]


def test_created_parents_are_removed_on_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic.writer(tmp_path / "a" / "b" / "out.csv"):
        raise RuntimeError("no rows")
    with pytest.raises(RuntimeError), atomic.staged_directory(tmp_path / "c" / "d" / "run"):
        raise RuntimeError("training failed")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        atomic.write_text(tmp_path / "plain" / "out.csv", "x")
    assert (tmp_path / "plain").read_text() == "x"


def test_read_only_location_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "ro"
    with read_only_folder(locked, monkeypatch):
        for attempt in (lambda: atomic.write_text(locked / "out.csv", "x"),
                        lambda: atomic.write_text(locked / "new" / "out.csv", "x"),
                        lambda: atomic.staged_directory(locked / "run").__enter__(),
                        lambda: atomic.fresh_directory(locked, "20260101")):
            with pytest.raises(OutputError, match="cannot write here") as caught:
                attempt()
            assert "\n" not in str(caught.value)
        assert list(locked.iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    small = tmp_path / "small"
    with tiny_folder(small, "64k"):
        with pytest.raises(OutputError, match="no space left on device"):
            atomic.write_bytes(small / "big.bin", b"x" * (1 << 20))
        with pytest.raises(OutputError, match="no space left on device"), \
                atomic.writer(small / "stream.csv") as handle:
            for _ in range(64):
                handle.write(b"y" * (1 << 16))
        assert list(small.iterdir()) == []


def test_overwrite_replaces_only_the_folder_it_names(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "old.pb").write_text("old")
    (run / "keep.json").write_text("{}")
    with atomic.staged_directory(run / "model", overwrite=True) as staging:
        (staging / "saved_model.pb").write_text("new")
    assert [p.name for p in (run / "model").iterdir()] == ["saved_model.pb"]
    assert sorted(p.name for p in run.iterdir()) == ["keep.json", "model"]


def test_fresh_and_new_directories_never_share_a_name(tmp_path: Path) -> None:
    first = atomic.fresh_directory(tmp_path, "20260101-120000")
    (first / "decision.json").write_text("{}")
    second = atomic.fresh_directory(tmp_path, "20260101-120000")
    assert second.name == "20260101-120000-2" and (first / "decision.json").exists()
    with atomic.new_directory(tmp_path, "20260101-120000") as (staging, final):
        (staging / "labels.csv").write_text("x")
    assert final.name == "20260101-120000-3" and (final / "labels.csv").exists()
    with pytest.raises(RuntimeError), atomic.new_directory(tmp_path, "20260101-120000"):
        raise RuntimeError("endpoint down")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20260101-120000", "20260101-120000-2",
                                                          "20260101-120000-3"]
