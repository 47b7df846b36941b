"""Names of temporary files and folders that say who made them, and the removal of those
whose maker is gone (a `kill -9` mid-write), never of one whose maker still runs.

    .<stem>.<pid>-<process start>-<host>-<random>.<kind>     kind: tmp, partial (or old)

The process start time (clock ticks since boot, from /proc) tells a live process from a
later one that reuses its pid; the host tag keeps a shared folder's other machines' files
out of reach. Only `tmp` and `partial` are ever removed: `old` holds a folder being
replaced and is kept for the user if a crash strands it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
from pathlib import Path

REMOVABLE = ("tmp", "partial")
STEM_CHARS = 80  # leaves room for the tag within a 255-byte file name
_NAME = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d{1,10})-(?P<start>\d{1,20})-(?P<host>[0-9a-f]{8})-[0-9a-f]{8}"
                   r"\.(?P<kind>[a-z]+)$", re.DOTALL)


def temporary_name(stem: str, kind: str) -> str:
    """A hidden name for a temporary `kind` made by this process for `stem`."""
    pid = os.getpid()
    return f".{stem[:STEM_CHARS]}.{pid}-{process_start(pid) or 0}-{host_tag()}-{secrets.token_hex(4)}.{kind}"


def host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot); None when unknown or gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and ')'
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def maker_alive(pid: int, start: int) -> bool:
    """Whether the process that wrote `start` into a name still runs (unsure means yes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now = process_start(pid)
    return not (start and now is not None and now != start)


def stale(entry: Path) -> bool:
    """A temporary of ours, made on this host by a process that no longer runs."""
    match = _NAME.match(entry.name)
    if not match or match["kind"] not in REMOVABLE or match["host"] != host_tag():
        return False
    return not maker_alive(int(match["pid"]), int(match["start"]))


def remove_stale(directory: Path) -> list[Path]:
    """Delete the stale temporaries directly in `directory`; returns what was removed."""
    try:
        entries = [entry for entry in Path(directory).iterdir() if entry.name.startswith(".")]
    except OSError:
        return []
    removed = []
    for entry in entries:
        if stale(entry) and _remove(entry):
            removed.append(entry)
    return removed


def _remove(entry: Path) -> bool:
    try:
        mode = entry.lstat().st_mode
        if stat.S_ISDIR(mode) and entry.name.endswith(".partial"):
            shutil.rmtree(entry)
        elif stat.S_ISREG(mode) and entry.name.endswith(".tmp"):
            entry.unlink()
        else:
            return False  # a link or an odd type under our name: not ours to judge
    except OSError:
        return False  # another process cleaned it first, or it is not ours to delete
    return True
