"""What a killed process leaves behind is removed by the next run, and only that."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import atomic, leftovers

HOLD_STAGING = """
import sys, time
from pathlib import Path
from pipeline.core import atomic
with atomic.staged_directory(Path(sys.argv[1])) as staging:
    (staging / "metrics.json").write_text("{}")
    with atomic.writer(Path(sys.argv[2])) as handle:
        handle.write(b"half")
        print("ready", flush=True)
        time.sleep(60)
"""


def dead_pid() -> tuple[int, int]:
    """(pid, start time) of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = leftovers.process_start(child.pid) or 0
    child.wait(timeout=30)
    return child.pid, start


def named(folder: Path, stem: str, pid: int, start: int, kind: str, host: str | None = None) -> Path:
    path = folder / f".{stem}.{pid}-{start}-{host or leftovers.host_tag()}-0badcafe.{kind}"
    if kind == "tmp":
        path.write_text("x")
    else:
        path.mkdir()
        (path / "inside").write_text("x")
    return path


def test_only_stale_temporaries_of_this_host_are_removed(tmp_path: Path) -> None:
    pid, start = dead_pid()
    me = os.getpid()
    stale = [named(tmp_path, "run-1", pid, start, "partial"), named(tmp_path, "aliases.json", pid, start, "tmp")]
    kept = [
        named(tmp_path, "run-2", me, leftovers.process_start(me) or 0, "partial"),  # a live process
        named(tmp_path, "run-3", pid, start, "partial", host="12345678"),  # another machine's
        named(tmp_path, "model", pid, start, "old"),  # a replaced folder a crash stranded
    ]
    if start:  # a live pid whose start time differs is a reused pid: its maker is gone
        stale.append(named(tmp_path, "run-4", me, start + 1, "partial"))
    (tmp_path / ".run-5.abcd1234.partial").mkdir()  # the old mkdtemp names: no owner, kept
    (tmp_path / "data.csv").write_text("mine")
    assert sorted(leftovers.remove_stale(tmp_path)) == sorted(stale)
    assert all(path.exists() for path in kept)
    assert (tmp_path / ".run-5.abcd1234.partial").exists() and (tmp_path / "data.csv").exists()


def test_a_link_under_our_name_is_not_followed(tmp_path: Path) -> None:
    pid, start = dead_pid()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    (tmp_path / f".run.{pid}-{start}-{leftovers.host_tag()}-0badcafe.partial").symlink_to(victim)
    leftovers.remove_stale(tmp_path)
    assert (victim / "precious").exists()


def test_kill_9_leftovers_are_cleaned_by_the_next_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    child = subprocess.Popen([sys.executable, "-c", HOLD_STAGING, str(tmp_path / "run-1"),
                              str(tmp_path / "aliases.json")], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        held = sorted(p.name for p in tmp_path.iterdir())
        assert [name.rsplit(".", 1)[1] for name in held] == ["tmp", "partial"]
        leftovers.remove_stale(tmp_path)  # the maker still runs: nothing may go
        assert sorted(p.name for p in tmp_path.iterdir()) == held
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with atomic.staged_directory(tmp_path / "run-2") as staging:  # the next `churn train`
        (staging / "metrics.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2"]


def test_names_fit_and_parse(tmp_path: Path) -> None:
    name = leftovers.temporary_name("x" * 300, "partial")
    assert len(name.encode()) < 255
    (tmp_path / name).mkdir()
    assert not leftovers.stale(tmp_path / name)  # ours, and we are alive


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_process_start_is_read_from_proc() -> None:
    assert leftovers.process_start(os.getpid()) == leftovers.process_start(os.getpid()) > 0
    pid, _ = dead_pid()
    assert leftovers.process_start(pid) is None
