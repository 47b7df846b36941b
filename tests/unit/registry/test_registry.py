"""Local registry: immutable versions, atomic aliases, safe under concurrency and crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.core import leftovers
from pipeline.errors import ModelRefError, RegistryError, RunDirError
from pipeline.registry import local_registry as registry_module
from pipeline.registry.local_registry import LocalRegistry, resolve_model
from tests.fakes.registry_runs import fake_run


@pytest.fixture()
def reg(tmp_path: Path) -> LocalRegistry:
    return LocalRegistry(tmp_path / "registry", "churn")


def test_versions_and_default_aliases(reg: LocalRegistry, tmp_path: Path) -> None:
    assert reg.upload(fake_run(tmp_path, "a")) == 1
    assert reg.aliases() == {"default": 1, "champion": 1}
    assert reg.upload(fake_run(tmp_path, "b"), aliases=["challenger"], labels={"team": "growth"}) == 2
    assert reg.aliases() == {"default": 2, "champion": 1, "challenger": 2}
    info = reg.info(2)
    assert info["labels"]["team"] == "growth" and info["run_id"] == "b"
    assert (reg.versions_dir / "2" / "baseline_stats.json").exists()


def test_versions_are_copies(reg: LocalRegistry, tmp_path: Path) -> None:
    run = fake_run(tmp_path)
    reg.upload(run)
    (run / "metrics.json").write_text("changed")
    assert json.loads((reg.versions_dir / "1" / "metrics.json").read_text())["threshold"] == 0.42


def _upload(args: tuple[str, str]) -> int:
    root, run = args
    return LocalRegistry(Path(root), "churn").upload(Path(run))


def test_concurrent_uploads_get_distinct_versions(tmp_path: Path) -> None:
    runs = [str(fake_run(tmp_path, f"r{i}")) for i in range(6)]
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        versions = pool.map(_upload, [(str(tmp_path / "registry"), run) for run in runs])
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert LocalRegistry(tmp_path / "registry", "churn").versions() == [1, 2, 3, 4, 5, 6]


def test_crash_mid_upload_leaves_no_version(reg: LocalRegistry, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reg.upload(fake_run(tmp_path, "a"))
    original = registry_module._copy_run

    def crash(source: Path, target: Path) -> None:
        original(source, target)
        raise OSError("killed mid-copy")

    monkeypatch.setattr(registry_module, "_copy_run", crash)
    with pytest.raises(OSError):
        reg.upload(fake_run(tmp_path, "b"))
    assert reg.versions() == [1]
    assert reg.aliases()["default"] == 1
    assert not [p for p in reg.root.iterdir() if p.name.startswith(".staging")]


def test_promote_and_rollback(reg: LocalRegistry, tmp_path: Path) -> None:
    for name in "abc":
        reg.upload(fake_run(tmp_path, name))
    assert reg.promote(2, "champion") == 1
    assert reg.promote(3, "champion") == 2
    assert reg.rollback() == 2
    assert reg.rollback() == 1
    assert reg.aliases()["champion"] == 1
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback()


def test_alias_move_is_atomic_file_replace(reg: LocalRegistry, tmp_path: Path) -> None:
    reg.upload(fake_run(tmp_path, "a"))
    reg.upload(fake_run(tmp_path, "b"))
    inode = (reg.root / "aliases.json").stat().st_ino
    reg.promote(2, "champion")
    assert (reg.root / "aliases.json").stat().st_ino != inode  # replaced by rename, never edited in place
    assert not list(reg.root.glob(".aliases.json.*"))


def test_bad_alias_and_version(reg: LocalRegistry, tmp_path: Path) -> None:
    reg.upload(fake_run(tmp_path))
    with pytest.raises(RegistryError, match="alias"):
        reg.promote(1, "Champion!")
    with pytest.raises(ModelRefError, match="no such version"):
        reg.promote(7, "champion")
    with pytest.raises(RunDirError, match="not found"):
        reg.upload(tmp_path / "missing")


def test_resolve_references(tmp_path: Path) -> None:
    config = load_config(None, [f"paths.artifacts={tmp_path / 'artifacts'}"], environ={})
    reg = LocalRegistry.from_config(config)
    run = fake_run(tmp_path)
    reg.upload(run)
    assert resolve_model(config, "churn@champion").version_id == "1"
    assert resolve_model(config, "churn@1").model_dir == reg.versions_dir / "1" / "model"
    assert resolve_model(config, "churn").version_id == "1"
    assert resolve_model(config, str(run)).model_dir == run / "model"
    with pytest.raises(ModelRefError, match="no such alias"):
        resolve_model(config, "churn@staging")
    with pytest.raises(ModelRefError, match="unknown model"):
        resolve_model(config, "other@1")


def test_upload_removes_a_killed_uploads_staging_and_keeps_modes(reg: LocalRegistry, tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = leftovers.process_start(child.pid) or 0
    child.wait(timeout=30)
    reg.root.mkdir(parents=True)
    stale = reg.root / f".staging.{child.pid}-{start}-{leftovers.host_tag()}-0badcafe.partial"
    (stale / "model").mkdir(parents=True)  # what `kill -9` mid-copy leaves
    previous = os.umask(0o022)
    try:
        reg.upload(fake_run(tmp_path))
    finally:
        os.umask(previous)
    assert not stale.exists()
    assert sorted(p.name for p in reg.root.iterdir()) == [".lock", "aliases.json", "history.jsonl", "versions"]
    assert (reg.versions_dir / "1").stat().st_mode & 0o777 == 0o755
    assert (reg.root / "aliases.json").stat().st_mode & 0o777 == 0o644
