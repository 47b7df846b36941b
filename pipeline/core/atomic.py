"""Write files and directories under a temporary name, then rename: readers never see
half-written artifacts, and a failed step leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.errors import RunDirError


def write_text(path: Path, text: str) -> Path:
    """Atomically replace `path` with `text` (UTF-8)."""
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Atomically replace `path` with `data`, fsynced before the rename."""
    with writer(path) as handle:
        handle.write(data)
    return Path(path)


@contextmanager
def writer(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temporary sibling of `path`; renamed over `path` (after fsync)
    when the block succeeds, deleted when it raises. For streaming large files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; artifacts are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any) -> Path:
    """Atomically write pretty, key-sorted JSON."""
    return write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Read JSON, turning a missing or corrupt file into a RunDirError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({exc})") from None


@contextmanager
def staged_directory(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; rename it to `final` when the block succeeds,
    delete it when the block raises."""
    final = Path(final)
    if final.exists() and not overwrite:
        raise RunDirError(f"{final}: already exists (choose another --run-dir or delete it)")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield staging
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
