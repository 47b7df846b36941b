"""Every alias move on Vertex, kept in one append-only object on GCS.

Vertex Model Registry keeps only where an alias points now; rolling back needs where it
pointed before. Each move (upload, promote, rollback) appends one JSON line to
gs://BUCKET/models/<model>/alias_history.jsonl, shaped like the local registry's
history.jsonl, and rollback reads it with the same lineage function
(pipeline.registry.lineage). GCS objects cannot be appended to, so an append rewrites the
object under a generation precondition (if_generation_match): a concurrent writer makes it
fail with 412 and it re-reads and tries again, so no event is ever lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from pipeline.backends.vertex import naming
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.gcs import split_gs_uri, storage_client
from pipeline.backends.vertex.plan import PlanStep
from pipeline.config import Config
from pipeline.errors import CloudError

log = logging.getLogger(__name__)

_ATTEMPTS = 20


def alias_event(alias: str, previous: str | None, version: str, kind: str) -> dict[str, Any]:
    """One move, as the local registry records it: kind is upload, promote, rollback or
    observed (a move made outside this pipeline, found when reading Vertex)."""
    return {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "alias": alias, "from": previous, "to": version, "kind": kind}


def append_step(config: Config, description: str, when: str = "") -> PlanStep:
    uri = naming.alias_history_uri(config)
    # No gcloud line: the record is a read-modify-write of the file under the generation just
    # read, and its event (time, previous holder) is only known then. A move made by hand is
    # not lost: the next rollback records it as "observed".
    return PlanStep(f"Record {description} in {uri} (API only: gcloud has no equivalent of "
                    "this conditional append; a move made with gcloud is recorded as observed "
                    "by the next `churn models rollback`)",
                    "google.cloud.storage: Blob.upload_from_string(if_generation_match=...)",
                    {"destination": uri, "if_generation_match": "<GENERATION READ>"}, "", when)


class AliasHistory:
    """The history object of one model; `bucket` is a google.cloud.storage Bucket."""

    def __init__(self, config: Config, bucket: Any, object_name: str) -> None:
        self.config = config
        self.bucket = bucket
        self.object_name = object_name
        self.uri = f"gs://{bucket.name}/{object_name}"

    @classmethod
    def open(cls, config: Config, credentials: Any) -> AliasHistory:
        bucket_name, name = split_gs_uri(naming.alias_history_uri(config))
        return cls(config, storage_client(config, credentials).bucket(bucket_name), name)

    def append(self, events: Sequence[dict[str, Any]]) -> None:
        """Add `events` at the end, even while other processes append too."""
        from google.api_core import exceptions as gexc

        lines = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode("utf-8")
        with translate_errors(f"append to {self.uri}", self.config.vertex.project):
            for _ in range(_ATTEMPTS):
                try:
                    self._append_once(lines)
                    return
                except (gexc.PreconditionFailed, gexc.NotFound):
                    log.info("%s changed while appending; reading it again", self.uri)
        raise CloudError(f"{self.uri}: could not record the alias move after {_ATTEMPTS} "
                         "attempts (too many concurrent writers); the alias itself was moved: "
                         "run the same command again to record it")

    def _append_once(self, lines: bytes) -> None:
        current = self.bucket.get_blob(self.object_name)
        generation = int(current.generation) if current is not None else 0
        existing = b""
        if current is not None:
            existing = current.download_as_bytes(if_generation_match=generation)
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
        blob = self.bucket.blob(self.object_name, kms_key_name=self.config.vertex.kms_key_name)
        # Generation 0 means "only if the object does not exist yet"; a 412 answer raises
        # PreconditionFailed, which append() retries.
        blob.upload_from_string(existing + lines, content_type="application/x-ndjson",
                                if_generation_match=generation)

    def events(self) -> list[dict[str, Any]]:
        """Every recorded move, oldest first."""
        with translate_errors(f"read {self.uri}", self.config.vertex.project):
            blob = self.bucket.get_blob(self.object_name)
            if blob is None:
                return []
            text = blob.download_as_bytes().decode("utf-8")
        events = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise CloudError(f"{self.uri} line {number}: not JSON; the alias history is "
                                 "damaged (fix or remove that line by hand)") from None
            events.append(event)
        return events
