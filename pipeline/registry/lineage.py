"""Which versions an alias held, in order, from its move history: what rollback walks back.

Pure (no storage): the local registry reads history.jsonl, the Vertex backend an append-only
object on GCS; both keep events shaped {"alias", "to", "kind", ...} and share this reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def alias_lineage(events: Iterable[Mapping[str, Any]], alias: str) -> list[Any]:
    """The versions `alias` held, oldest first, with rolled-back holders removed.

    A move to the version already on top is not a new holder; a rollback event removes the
    top holder (the version rolled back from), leaving the version it went back to on top.
    """
    stack: list[Any] = []
    for event in events:
        if event["alias"] != alias:
            continue
        if event["kind"] == "rollback":
            if stack:
                stack.pop()
        elif not stack or stack[-1] != event["to"]:
            stack.append(event["to"])
    return stack
