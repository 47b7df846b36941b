"""Write files and directories under a temporary name, then rename: readers never see
half-written artifacts, a failed step leaves nothing behind, and nothing that was already
there is deleted or overwritten unless the caller says it owns it.

Temporary names carry their creator (pid, process start time, host; pipeline.core.leftovers),
so a later run removes what a killed process left behind, and only that. Files are created
with the user's umask (0600 with `private=True`, for files holding customer data)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.core import leftovers
from pipeline.errors import OutputError, RunDirError

PRIVATE_MODE = 0o600
# Errors of the storage itself: a write that hits them is the output location's fault.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_REASONS = {
    errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted", errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EEXIST: "something else appeared there meanwhile", errno.ENOTEMPTY: "the folder is not empty",
    errno.ENAMETOOLONG: "name too long", errno.EFBIG: "file too large",
}


def output_error(path: Path, exc: OSError) -> OutputError:
    """One line naming the location and why it cannot be written."""
    reason = _REASONS.get(exc.errno or 0, exc.strerror or exc.__class__.__name__)
    return OutputError(f"{path}: cannot write here ({reason}); choose a writable location, nothing was written")


def write_text(path: Path, text: str, *, private: bool = False, replace: bool = True) -> Path:
    """Atomically write `text` (UTF-8) to `path`."""
    return write_bytes(path, text.encode("utf-8"), private=private, replace=replace)


def write_bytes(path: Path, data: bytes, *, private: bool = False, replace: bool = True) -> Path:
    """Atomically write `data` to `path`, fsynced before the rename."""
    with writer(path, private=private, replace=replace) as handle:
        handle.write(data)
    return Path(path)


def write_json(path: Path, payload: Any, *, private: bool = False) -> Path:
    """Atomically write pretty, key-sorted JSON."""
    return write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", private=private)


def check_new_file(path: Path, replace: bool = False) -> Path:
    """`path` as an output file: refused when it is a folder, or exists and `replace` is off.
    Call it before expensive work; writer() checks again."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if not replace and (path.exists() or path.is_symlink()):
        raise OutputError(f"{path}: already exists; nothing was written (choose another name, or delete it first)")
    return path


@contextmanager
def writer(path: Path, *, private: bool = False, replace: bool = True) -> Iterator[BinaryIO]:
    """A binary handle on a temporary sibling of `path`; published as `path` (after fsync)
    when the block succeeds, deleted when it raises. `replace=False` never replaces an
    existing file (checked again at the rename, without a race). A replaced file keeps its
    permissions unless `private`."""
    path = check_new_file(path, replace)
    if path.is_symlink():
        path = path.resolve()  # replace the file a link points at, never the user's link
    created = _make_parents(path.parent)
    leftovers.remove_stale(path.parent)
    temporary = path.parent / leftovers.temporary_name(path.name, "tmp")
    mode = PRIVATE_MODE if private else _file_mode(path)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode or 0o666)
    except OSError as exc:
        _remove_dirs(created)
        raise output_error(path, exc) from None
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # exactly the mode asked for, whatever the umask
        with os.fdopen(fd, "wb") as handle:
            yield handle
            _sync(handle, path)
        _publish_file(temporary, path, replace)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        _remove_dirs(created)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in STORAGE_ERRNOS:
            raise output_error(path, exc) from None
        raise


def read_json(path: Path) -> Any:
    """Read JSON, turning a missing, unreadable or corrupt file into a RunDirError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise RunDirError(f"{path}: is a folder, expected a JSON file") from None
    except OSError as exc:
        raise RunDirError(f"{path}: unreadable ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: corrupt JSON ({str(exc)[:200]})") from None


def check_new_directory(final: Path) -> Path:
    """`final` as the name of a folder about to be made: refused when it is a file or a
    non-empty folder (an empty folder is taken over)."""
    final = Path(os.path.abspath(final))
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise OutputError(f"{final}: is a file, not a folder; nothing was written (choose a new folder)")
    if final.is_dir():
        if next(final.iterdir(), None) is not None:
            raise OutputError(f"{final}: folder exists and is not empty; nothing in it was touched "
                              "(choose a new or empty folder)")
        if final == Path.cwd() or final in Path.cwd().parents:
            raise OutputError(f"{final}: is the current directory; choose a new folder")
    return final


def probe_new_directory(final: Path) -> Path:
    """Refuse `final` now, as staged_directory would later, when it is occupied or cannot
    be written (for commands that work a long time before they write)."""
    absolute = check_new_directory(final)
    staging, created = _new_partial(absolute.parent, absolute.name, absolute)
    staging.rmdir()
    _remove_dirs(created)
    return Path(final)


@contextmanager
def staged_directory(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; rename it to `final` when the block succeeds,
    delete it when the block raises. `final` must be new or an empty folder, unless
    `overwrite`: only for a folder the caller's own tool made (a run's model/)."""
    final = Path(os.path.abspath(final)) if overwrite else check_new_directory(final)
    staging, created = _new_partial(final.parent, final.name, final)
    try:
        yield staging
        _publish_directory(staging, final, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_dirs(created)
        raise


@contextmanager
def new_directory(parent: Path, stem: str) -> Iterator[tuple[Path, Path]]:
    """(staging, final) for a new folder `parent/stem` (stem-2... when taken): the name is
    claimed at once, the content appears in one rename when the block succeeds, and a
    failure leaves neither."""
    final = fresh_directory(parent, stem)
    try:
        with staged_directory(final) as staging:
            yield staging, final
    except BaseException:
        _remove_dirs([final])
        raise


def partial_directory(parent: Path, stem: str) -> Path:
    """A new, empty, owner-named staging folder in `parent` for callers that pick the final
    name later (the registry, under its lock); they rename or delete it."""
    return _new_partial(Path(parent), stem, Path(parent))[0]


def fresh_directory(parent: Path, stem: str) -> Path:
    """A new folder `parent/stem` (or stem-2, stem-3... when taken), created by this call,
    so the caller may delete it on failure without touching anyone else's files."""
    parent = Path(parent)
    _make_parents(parent)
    for attempt in range(1, 1000):
        candidate = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise output_error(candidate, exc) from None
    raise OutputError(f"{parent}: too many folders named {stem}-N; clean some up")


def _new_partial(parent: Path, stem: str, named: Path) -> tuple[Path, list[Path]]:
    created = _make_parents(parent)
    leftovers.remove_stale(parent)
    staging = parent / leftovers.temporary_name(stem, "partial")
    try:
        os.mkdir(staging)  # mode 0777 minus the umask, like any folder the user makes
    except OSError as exc:
        _remove_dirs(created)
        raise output_error(named, exc) from None
    return staging, created


def _publish_directory(staging: Path, final: Path, overwrite: bool) -> None:
    if overwrite and (final.exists() or final.is_symlink()):
        # The old folder is moved aside under a name the stale cleanup never deletes, so a
        # crash between the two renames loses nothing.
        aside = final.parent / leftovers.temporary_name(final.name, "old")
        _rename(final, aside, final)
        _rename(staging, final, final)
        shutil.rmtree(aside, ignore_errors=True)
        return
    try:
        os.rename(staging, final)  # replaces only an empty folder; refuses anything else
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise OutputError(f"{final}: something was put there while this command ran; "
                              "it was left alone and nothing was written") from None
        raise output_error(final, exc) from None


def _publish_file(temporary: Path, path: Path, replace: bool) -> None:
    if replace:
        _rename(temporary, path, path)
        return
    try:
        os.link(temporary, path)  # fails if `path` exists, unlike a rename
    except FileExistsError:
        raise OutputError(f"{path}: appeared while this command ran; it was left alone, nothing written") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise output_error(path, exc) from None
        check_new_file(path)  # a file system without hard links: check, then rename
        _rename(temporary, path, path)
        return
    temporary.unlink()


def _rename(source: Path, target: Path, named: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as exc:
        raise output_error(named, exc) from None


def _sync(handle: BinaryIO, path: Path) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
    except OSError as exc:
        raise output_error(path, exc) from None


def _file_mode(path: Path) -> int | None:
    """The permissions of the file about to be replaced; None for a new file (umask)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _make_parents(directory: Path) -> list[Path]:
    """Create the missing folders above an output; returns them, outermost first, so a
    failed command can remove exactly the ones it made."""
    directory = Path(os.path.abspath(directory))
    missing: list[Path] = []
    probe = directory
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{probe}: is a file, not a folder; cannot write under it")
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_dirs(created)
            raise output_error(folder, exc) from None
        created.append(folder)
    return created


def _remove_dirs(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()  # only while still empty: someone else may have written there
        except OSError:
            return
