"""The prediction log: every answered instance, committed before its answer is sent.

Storage: one SQLite row per answered request in `requests` (request id, UTC timestamp,
model version, endpoint, latency, and a JSON array with one [customerID, features,
probability, interval lower, interval upper, churn] entry per instance, features being the
values in LOGGED_FEATURES order, the categories then the numbers; logs written before
2026-12 hold them as an object by name, and both are read). One row per request keeps a
100-instance request to one insert, and values without their names keep it to about 45% of
the bytes, written twice (WAL, then checkpoint); the view `predictions` shows one row per instance for SQL users, its
`features` an object by name, and `iter_log_frames` yields one row per instance with a
column per feature (the API monitoring reuses).

Group commit: while one transaction commits, the requests arriving meanwhile queue up and
go into the next one; each request is released only when the transaction holding it has
committed. A request the server handles alone (`append(..., alone=True)`: no other request
in flight and no commit pending) is committed at once, in the caller's turn, with no queue.
The database is in WAL mode. With sync "normal" a commit only appends to the WAL
(no fsync, ~10-20 us), so it runs on the event loop: no thread hand-off per request (two
wake-ups and a GIL hand-over, which on a loaded machine cost more than the commit). It never
waits there: when the log is locked by another process, or must be reopened, the batch goes
to the log's worker thread, which waits for a lock at most `busy_timeout_ms`, then the
waiting requests fail (the server answers 503). Commits with sync "full" (an fsync each)
always run on that thread. SQLite's automatic checkpoint (which fsyncs the database from
inside a commit) is off; the worker thread checkpoints every CHECKPOINT_PAGES pages written,
between commits, so no commit and no event-loop turn waits for it. (On a connection of its
own, running beside the commits, the checkpoint made each commit about twice as slow.)

The file on disk is checked after each commit (device and inode of the database, -wal and
-shm files, against those at opening): a log deleted or replaced under a running server is
noticed, and the batch that went into the old file is written again by the worker thread,
which opens a new log at the same path (and checks before and after its own commit: a log
replaced during that one fails the batch). So an acknowledged record is always in the file at `path`.
New log files are created mode 0600 (they hold customer IDs); SQLite gives the -wal and
-shm files the database's mode.

Durability (`sync`):
- "normal" (default): synchronous=NORMAL. A commit has been written to the WAL file by the
  time it returns, so it survives the server process dying (kill -9, OOM, crash): that is
  the guarantee a 200 carries. A power cut or kernel crash may lose the last transactions.
- "full": synchronous=FULL, the WAL is fsynced at every commit: survives power loss too, at
  the cost of one fsync per group commit (about 4 ms on a virtual disk).

Readers open the file separately; WAL lets them read while the server writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ServingError
from pipeline.serving.logrecord import LOGGED_FEATURES as LOGGED_FEATURES
from pipeline.serving.logrecord import request_record as request_record
from pipeline.serving.logrecord import utc_timestamp as utc_timestamp
from pipeline.training import schema

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SYNC_MODES = ("normal", "full")
DEFAULT_BUSY_TIMEOUT_MS = 500.0
FILE_MODE = 0o600
_COMPANIONS = ("", "-wal", "-shm")  # the files SQLite keeps for a WAL database
CHECKPOINT_PAGES = 1000  # SQLite's default auto-checkpoint size, run off the request path here
_RECORD_BYTES_PER_PAGE = 3000  # JSON bytes of records per WAL page, roughly (pages of 4 kB, B-tree slack)
META_COLUMNS = ("request_id", "instance", "timestamp", "model_version", "endpoint", schema.ID_COLUMN)
SCORE_COLUMNS = ("churn_probability", "interval_lower", "interval_upper", "churn", "latency_ms")
FRAME_COLUMNS = (*META_COLUMNS, *schema.FEATURES, *SCORE_COLUMNS)
_RECORD = ("request_id", "timestamp", "model_version", "endpoint", "latency_ms", "size", "instances")
_CREATE = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, timestamp TEXT NOT NULL,
    model_version TEXT NOT NULL, endpoint TEXT NOT NULL, latency_ms REAL NOT NULL,
    size INTEGER NOT NULL, instances TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS requests_timestamp ON requests (timestamp);
"""
_FEATURES_BY_NAME = "json_object({})".format(", ".join(
    f"'{name}', json_extract(i.value, '$[1][{LOGGED_FEATURES.index(name)}]')" for name in schema.FEATURES))
_VIEW = f"""
CREATE VIEW predictions AS
SELECT r.request_id AS request_id, CAST(i.key AS INTEGER) AS instance, r.timestamp AS timestamp,
       r.model_version AS model_version, r.endpoint AS endpoint,
       json_extract(i.value, '$[0]') AS customer_id,
       CASE json_type(i.value, '$[1]') WHEN 'array' THEN {_FEATURES_BY_NAME}
            ELSE json_extract(i.value, '$[1]') END AS features,
       json_extract(i.value, '$[2]') AS churn_probability, json_extract(i.value, '$[3]') AS interval_lower,
       json_extract(i.value, '$[4]') AS interval_upper, json_extract(i.value, '$[5]') AS churn,
       r.latency_ms AS latency_ms
FROM requests AS r, json_each(r.instances) AS i;
"""
_INSERT = f"INSERT INTO requests ({', '.join(_RECORD)}) VALUES ({', '.join('?' * len(_RECORD))})"


class PredictionLogError(ServingError):
    """The prediction log cannot be opened, written or read as asked."""


class _NotNow(Exception):
    """A commit tried on the event loop would have to wait (a lock, a reopen): the worker
    thread does it instead."""


class PredictionLog:
    """Append-only writer with group commit: one transaction in flight at a time holds
    every request queued while the previous one committed. Commits run on the event loop
    when they cannot wait (`commit_on_loop`, default for sync="normal"), else on a worker
    thread (sync="full" waits for an fsync, and any mode may wait for a lock); `append`
    returns after the commit.
    """

    def __init__(self, path: Path, sync: str = "normal",
                 busy_timeout_ms: float = DEFAULT_BUSY_TIMEOUT_MS, commit_on_loop: bool | None = None) -> None:
        if sync not in SYNC_MODES:
            raise PredictionLogError(f"log sync {sync!r}: choose one of {', '.join(SYNC_MODES)}")
        self.path = Path(path)
        self.sync = sync
        self.busy_timeout_ms = busy_timeout_ms
        self.commit_on_loop = sync == "normal" if commit_on_loop is None else commit_on_loop
        self._unsaved_pages = 0  # written to the WAL since the last checkpoint, roughly
        self._connection: sqlite3.Connection | None = None
        self._files = tuple(f"{self.path}{suffix}" for suffix in _COMPANIONS)
        self._identity: tuple | None = None
        self._closed = False
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._flushing = False
        self._executor: ThreadPoolExecutor | None = None

    def open(self) -> PredictionLog:
        """Open (creating if needed) the database; raise PredictionLogError if it cannot."""
        self._reconnect()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prediction-log")
        return self

    async def append(self, record: tuple, alone: bool = False) -> None:
        """Append one request's record (see request_record); return once it is committed
        (raise PredictionLogError if it could not be). `alone`: the caller is the only
        request in flight, so there is no one to group with: commit now, without queueing."""
        loop = asyncio.get_running_loop()
        if alone and self.commit_on_loop and not self._flushing and self._executor is not None:
            outcome = self._commit_batch([record], on_loop=True)
            if not isinstance(outcome, _NotNow):
                if self._checkpoint_due():
                    self._flushing = True  # commits queue until the checkpoint is done
                    self._start_checkpoint(loop)
                if outcome is not None:
                    raise outcome
                return
        future = loop.create_future()
        self._pending.append((record, future))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush, loop)
        await future

    def write(self, record: tuple) -> None:
        """Append and commit one record now (callers without an event loop)."""
        error = self._commit_batch([record])
        if self._unsaved_pages >= CHECKPOINT_PAGES:
            self._unsaved_pages = 0
            self._checkpoint()
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop taking writes; what was committed stays."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close_connections()

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        records = [record for record, _ in batch]
        if self._executor is None or self._closed:
            self._settle(loop, batch, PredictionLogError(f"{self.path}: the prediction log is closed"))
            return
        if self.commit_on_loop:
            outcome = self._commit_batch(records, on_loop=True)
            if not isinstance(outcome, _NotNow):
                self._settle(loop, batch, outcome)
                return
        work = loop.run_in_executor(self._executor, self._commit_batch, records)
        work.add_done_callback(lambda done: self._settle(loop, batch, _outcome(done)))

    def _settle(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[tuple, asyncio.Future]],
                error: BaseException | None) -> None:
        for _, future in batch:
            if not future.done():
                future.set_result(None) if error is None else future.set_exception(error)
        if self._checkpoint_due():
            self._start_checkpoint(loop)
            return
        self._next_flush(loop)

    def _checkpoint_due(self) -> bool:
        return self._unsaved_pages >= CHECKPOINT_PAGES and self._executor is not None and not self._closed

    def _start_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        """Checkpoint on the log thread between two commits (nothing else uses the
        connection; requests queue meanwhile), then go on with the queue."""
        self._unsaved_pages = 0
        work = loop.run_in_executor(self._executor, self._checkpoint)
        work.add_done_callback(lambda _: self._next_flush(loop))

    def _next_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pending:
            loop.call_soon(self._flush, loop)
        else:
            self._flushing = False

    def _checkpoint(self) -> None:
        """Copy the WAL's pages into the database (PASSIVE: readers are not waited for)."""
        try:
            if self._connection is not None:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("%s: checkpoint failed (%s); the next one retries", self.path, exc)

    def _commit_batch(self, records: list[tuple], on_loop: bool = False) -> BaseException | None:
        """None once `records` are committed into the file at `path`, else the error every
        waiting request gets (never raises: a commit that escaped would leave its requests
        waiting forever). Runs on the log's thread, or `on_loop` without waiting for
        anything (then _NotNow when it would have to)."""
        try:
            if self._closed:
                raise PredictionLogError(f"{self.path}: the prediction log is closed")
            if self._connection is None:  # a failed reopen: try again
                if on_loop:
                    return _NotNow()
                self._reconnect()
            elif not on_loop and _file_identity(self._files) != self._identity:
                log.warning("%s was deleted or replaced while the server ran: starting a new "
                            "prediction log there", self.path)
                self._reconnect()
            self._commit_with_lock_wait(records, 0.0 if on_loop else self.busy_timeout_ms)
            # One check per commit on the loop: the file at `path` is still the one written to.
            # When it is not, the thread writes the records again, into a new log there.
            if _file_identity(self._files) != self._identity:
                if on_loop:
                    return _NotNow()
                raise PredictionLogError(f"{self.path}: the prediction log was deleted or replaced during a "
                                         "write; the next request starts a new log")
            self._unsaved_pages += 2 + sum(len(record[-1]) for record in records) // _RECORD_BYTES_PER_PAGE
        except _NotNow as exc:
            return exc
        except PredictionLogError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - turned into an answer for each waiting request
            return PredictionLogError(f"prediction log write failed: {exc.__class__.__name__}: {exc}")
        return None

    def _commit_with_lock_wait(self, records: list[tuple], wait_ms: float) -> None:
        connection = self._require_connection()
        # A connection for commits on the loop never waits for a lock; on the thread it does.
        switch = self.commit_on_loop and wait_ms > 0
        if switch:
            connection.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            _commit(connection, records, wait_ms)
        finally:
            if switch:
                connection.execute("PRAGMA busy_timeout = 0")

    def _close_connections(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _reconnect(self) -> None:
        # Close the old connection first: closing the last connection to a WAL database
        # unlinks the -wal and -shm files by name, which must not hit the new log's files.
        self._close_connections()
        try:
            self._connection = connect(self.path, self.sync, self.busy_timeout_ms)
            self._connection.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpoint
            if self.commit_on_loop:
                self._connection.execute("PRAGMA busy_timeout = 0")
        except (sqlite3.Error, OSError) as exc:
            raise PredictionLogError(f"{self.path}: cannot open the prediction log ({exc})") from None
        self._identity = _file_identity(self._files)

    def _require_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise PredictionLogError(f"{self.path}: the prediction log is not open")
        return self._connection


def _file_identity(files: tuple[str, ...]) -> tuple:
    """(device, inode) of each of the database's files (path, -wal, -shm), None where missing."""
    identity: list[tuple[int, int] | None] = []
    for name in files:
        try:
            status = os.stat(name)
        except FileNotFoundError:
            identity.append(None)
        else:
            identity.append((status.st_dev, status.st_ino))
    return tuple(identity)


def connect(path: Path, sync: str = "normal", busy_timeout_ms: float = DEFAULT_BUSY_TIMEOUT_MS
            ) -> sqlite3.Connection:
    """A writer connection: WAL, the chosen synchronous level, table and view created, a
    new file made mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_private(path)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=busy_timeout_ms / 1000.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={sync.upper()}")
    connection.executescript(_CREATE)
    try:
        _create_view(connection)
    except sqlite3.OperationalError as exc:  # an SQLite built without JSON functions
        log.warning("%s: no per-instance SQL view (%s); the log itself is complete", path, exc)
    return connection


def _create_view(connection: sqlite3.Connection) -> None:
    """The `predictions` view as this version defines it (a log of an older version had
    another definition of it: the view is ours, so it is replaced)."""
    found = connection.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'predictions'"
                               ).fetchone()
    if found is not None and found[0].strip() == _VIEW.strip():
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("DROP VIEW IF EXISTS predictions")
        connection.execute(_VIEW)
        connection.execute("COMMIT")
    except sqlite3.Error:
        connection.execute("ROLLBACK")
        raise


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (SQLite takes an empty
    file as a new database); an existing file keeps its mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def _commit(connection: sqlite3.Connection, records: list[tuple], busy_timeout_ms: float) -> None:
    try:
        if len(records) == 1:  # one statement in autocommit mode is its own transaction
            connection.execute(_INSERT, records[0])
        else:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_INSERT, records)
            connection.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            if not busy_timeout_ms:  # a commit on the loop: the worker thread waits instead
                raise _NotNow() from None
            raise PredictionLogError(f"prediction log write failed: the log is locked by another process "
                                     f"(waited {busy_timeout_ms:g} ms)") from None
        raise PredictionLogError(f"prediction log write failed: {exc}") from None


def _outcome(done: asyncio.Future) -> BaseException | None:
    if done.cancelled():
        return PredictionLogError("prediction log write cancelled (server stopping)")
    return done.exception() or done.result()


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """ISO date or time (naive means UTC), or an age like 30m, 12h, 7d (before now)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    age = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if age:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[age.group(2)]
        try:
            return now - dt.timedelta(**{unit: float(age.group(1))})
        except OverflowError:
            raise PredictionLogError(f"time {text[:40]!r}: age reaches before year 1; give an ISO time "
                                     "or a shorter age like 30d") from None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PredictionLogError(f"time {text!r}: expected an ISO time like 2026-01-31 or "
                                 "2026-01-31T12:00:00Z, or an age like 30m, 12h, 7d") from None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def iter_log_frames(path: Path, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Logged predictions with since <= timestamp < until, oldest first, one row per
    instance, in frames of about chunk_rows rows (see pipeline.serving.logread)."""
    from pipeline.serving import logread  # pandas is for readers: the server never imports it

    return logread.iter_log_frames(path, since, until, chunk_rows)
