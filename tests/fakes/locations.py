"""Output locations that refuse writes, and running `churn` exactly as the console script does.

Tests here run as root, and root ignores permission bits: a chmod 0555 folder is still
writable. So a read-only folder is a read-only tmpfs mounted over it when this process may
mount (root with CAP_SYS_ADMIN), chmod 0555 when not root, and otherwise os.open/os.mkdir
patched to fail with EROFS under it.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount_tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "churn-test", str(path)],
                          capture_output=True, timeout=20)
    return done.returncode == 0


def _unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, timeout=20)


@contextmanager
def read_only_folder(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make `path` a folder nobody can write into; yields how ('mount', 'chmod', 'patch')."""
    path.mkdir(parents=True, exist_ok=True)
    if _mount_tmpfs(path, "ro,size=64k"):
        try:
            yield "mount"
        finally:
            _unmount(path)
    elif os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield "chmod"
        finally:
            path.chmod(0o755)
    else:
        with _patched_read_only(path, monkeypatch):
            yield "patch"


@contextmanager
def _patched_read_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    inside = str(path.resolve())

    def refuse(original):  # type: ignore[no-untyped-def]
        def guarded(target, *args, **kwargs):  # type: ignore[no-untyped-def]
            if os.path.abspath(os.fspath(target)).startswith(inside + os.sep):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(target))
            return original(target, *args, **kwargs)
        return guarded

    with monkeypatch.context() as patch:
        patch.setattr(os, "mkdir", refuse(os.mkdir))
        patch.setattr(os, "open", refuse(os.open))
        yield


@contextmanager
def tiny_folder(path: Path, size: str = "64k") -> Iterator[None]:
    """A folder on a file system of `size` bytes (to fill up), or skip when we cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount_tmpfs(path, f"size={size}"):
        pytest.skip("needs root with permission to mount a small tmpfs")
    try:
        yield
    finally:
        _unmount(path)


def run_churn(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
              ) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `churn ARGS` through pipeline.cli.main, in this process."""
    from pipeline.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["churn", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for folders), to prove nothing changed."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
