"""Reading the local registry's own files back, checking their shape.

A registry file that is not what `churn` writes (edited by hand, truncated by a crash, a
folder where a file belongs) becomes one RegistryError naming the file, what was expected
and how to repair it. Each reader touches only its own file, so commands that do not need
a broken file keep working.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.errors import RegistryError

VERSION_NAME = re.compile(r"[1-9][0-9]*")  # ASCII only: str.isdigit() also accepts '٣'
EVENT_KINDS = ("upload", "promote", "rollback")
ALIASES_REPAIR = ('repair: rewrite it as {"champion": 2, "default": 3, ...} with plain version numbers '
                  '(the last "to" of each alias in history.jsonl gives them)')
HISTORY_REPAIR = ('repair: fix or delete that line; each line is one alias move '
                  '{"time": ..., "alias": "champion", "from": 1, "to": 2, "kind": "promote"}')
INFO_KEYS = ("version", "run_id", "created_at", "threshold", "test_metrics")
SHOWN_METRICS = ("roc_auc", "f1")  # what `churn models list` prints


def shown(value: Any) -> str:
    """A value as it may appear in a one-line message: repr, at most ~80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def version_number(text: str) -> int | None:
    """'3' -> 3; None for anything but a plain ASCII number without leading zeros."""
    return int(text) if VERSION_NAME.fullmatch(text) else None


def read_text(path: Path, expected: str, repair: str) -> str:
    """A registry file's text, or a RegistryError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise RegistryError(f"{path}: is a folder, expected {expected}; {repair}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: not UTF-8 text, expected {expected}; {repair}") from None
    except OSError as exc:
        raise RegistryError(f"{path}: unreadable ({exc.strerror}); {repair}") from None


def read_json_file(path: Path, expected: str, repair: str) -> Any:
    text = read_text(path, expected, repair)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path}: corrupt JSON at line {exc.lineno} column {exc.colno} ({exc.msg}), "
                            f"expected {expected}; {repair}") from None


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def read_aliases(path: Path) -> dict[str, int]:
    """aliases.json: {"alias": version number, ...}; {} when there is none yet."""
    if not path.exists() and not path.is_symlink():
        return {}
    expected = "a JSON object of alias -> version number"
    payload = read_json_file(path, expected, ALIASES_REPAIR)
    if not isinstance(payload, dict):
        raise RegistryError(f"{path}: found {json_type(payload)}, expected {expected}; {ALIASES_REPAIR}")
    aliases = {}
    for alias, value in payload.items():
        number = _positive_int(value)
        if number is None:
            raise RegistryError(f"{path}: alias {shown(alias)} points at {shown(value)}, expected a version "
                                f"number such as 3; {ALIASES_REPAIR}")
        aliases[alias] = number
    return aliases


def read_history(path: Path) -> list[dict[str, Any]]:
    """history.jsonl: one alias move per line, oldest first; [] when there is none yet."""
    if not path.exists() and not path.is_symlink():
        return []
    text = read_text(path, "one JSON alias move per line", HISTORY_REPAIR)
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            events.append(_event(path, number, line))
    return events


def ends_with_newline(path: Path) -> bool:
    """False when the last line was cut short (a crash mid-append): the next event must
    start on a line of its own."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            if handle.tell() == 0:
                return True
            handle.seek(-1, 2)
            return handle.read(1) == b"\n"
    except FileNotFoundError:
        return True


def read_info(path: Path, version: int) -> dict[str, Any]:
    """versions/N/version.json, written by `churn upload`."""
    repair = (f"repair: restore versions/{version}/version.json from a backup, or move versions/{version} "
              "out of the registry and upload its run again (`churn upload RUN_DIR`)")
    expected = "a JSON object with " + ", ".join(INFO_KEYS)
    info = read_json_file(path, expected, repair)
    if not isinstance(info, dict):
        raise RegistryError(f"{path}: found {json_type(info)}, expected {expected}; {repair}")
    missing = [key for key in INFO_KEYS if key not in info]
    if missing:
        raise RegistryError(f"{path}: missing {', '.join(missing)}; {repair}")
    metrics = info["test_metrics"]
    numbers = [info["threshold"], *(metrics.get(name) for name in SHOWN_METRICS)] \
        if isinstance(metrics, dict) else [None]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        raise RegistryError(f"{path}: threshold and test_metrics ({', '.join(SHOWN_METRICS)}) must be "
                            f"numbers; {repair}")
    return info


def expect_folder(path: Path, what: str) -> None:
    """A folder of the registry that exists but is something else."""
    if path.exists() and not path.is_dir():
        raise RegistryError(f"{path}: is a file, expected the registry's {what} folder; repair: move it "
                             "out of the way")


def _event(path: Path, number: int, line: str) -> dict[str, Any]:
    where = f"{path} line {number}"
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{where}: corrupt JSON ({exc.msg}); {HISTORY_REPAIR}") from None
    if not isinstance(event, dict):
        raise RegistryError(f"{where}: found {json_type(event)}, expected an object; {HISTORY_REPAIR}")
    if not isinstance(event.get("alias"), str) or event.get("kind") not in EVENT_KINDS:
        raise RegistryError(f"{where}: expected an alias name and a kind ({', '.join(EVENT_KINDS)}); "
                            f"{HISTORY_REPAIR}")
    if _positive_int(event.get("to")) is None:
        raise RegistryError(f"{where}: \"to\" is {shown(event.get('to'))}, expected a version number; "
                            f"{HISTORY_REPAIR}")
    return event


def _positive_int(value: Any) -> int | None:
    """A version number as aliases.json and history.jsonl hold it: a JSON integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value
