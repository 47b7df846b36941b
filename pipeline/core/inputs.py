"""Opening the user's input files: one place that refuses what is not a regular file.

Every data option (train/retrain/evaluate --data, predict --input, monitor --current and
--labels) and --config goes through open_regular_file. Opening a FIFO for reading blocks
until a writer appears, so the file is opened non-blocking and checked with fstat on the
open descriptor (no gap between the check and the read); a directory, FIFO, socket or
device is refused with one line instead of hanging or failing later.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import PipelineError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def open_regular_file(path: Path, error: type[PipelineError], what: str, hint: str = "") -> BinaryIO:
    """`path` opened for binary reading; `error` naming the path when it is missing,
    unreadable or not a regular file. `what` names the expected file ("CSV file"),
    `hint` (optional) says how to point at another one."""
    suffix = f" ({hint})" if hint else ""
    try:
        _refuse_irregular(os.stat(path).st_mode, path, error, what, suffix)  # sockets cannot be opened
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{path}: file not found{suffix}") from None
    except PermissionError:
        raise error(f"{path}: permission denied, cannot read the {what}{suffix}") from None
    except OSError as exc:
        raise error(f"{path}: cannot open the {what} ({exc.strerror or exc.__class__.__name__})") from None
    try:
        _refuse_irregular(os.fstat(fd).st_mode, path, error, what, suffix)  # replaced since stat()?
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_irregular(mode: int, path: Path, error: type[PipelineError], what: str, suffix: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise error(f"{path}: is {kind}, expected a {what}{suffix}")


def read_text_file(path: Path, error: type[PipelineError], what: str, max_bytes: int, hint: str = "") -> str:
    """The whole of a small UTF-8 text file (a config), refusing larger ones and naming the
    line and byte of the first invalid UTF-8 sequence."""
    with open_regular_file(path, error, what, hint) as handle:
        try:
            raw = handle.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what} ({exc.strerror or exc.__class__.__name__})") from None
    if len(raw) > max_bytes:
        raise error(f"{path}: larger than {max_bytes:,} bytes; a {what} is a few kilobytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {utf8_error_location(raw, exc.start)} is not valid UTF-8 "
                    "(re-save the file as UTF-8)") from None


def utf8_error_location(raw: bytes, offset: int) -> str:
    """'line N, byte M' (both from 1) of byte `offset` of `raw`."""
    line = raw.count(b"\n", 0, offset) + 1
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return f"line {line}, byte {offset - line_start + 1}"


def first_invalid_utf8(handle: BinaryIO) -> str:
    """Location ('line N, byte M') of the first invalid UTF-8 in an open binary file,
    read line by line from the start (only called once a decoder has failed)."""
    handle.seek(0)
    for number, line in enumerate(handle, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"line {number}, byte {exc.start + 1}"
    return "the file"
