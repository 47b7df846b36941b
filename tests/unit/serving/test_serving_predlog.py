"""The prediction log: group commit, readers, export and time windows."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.serving import predlog
from pipeline.serving.instances import EXAMPLE_INSTANCE as VALID
from pipeline.serving.instances import parse_request
from pipeline.serving.logexport import export_log
from pipeline.serving.predlog import PredictionLog, PredictionLogError
from pipeline.serving.scorer import Scores
from pipeline.training import schema

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def rows(request_id: str, count: int = 1, moment: dt.datetime = T0, **instance_changes) -> tuple:
    """The log record of a request of `count` identical instances."""
    instance = dict(VALID, **instance_changes)
    if instance.get("customerID", "") is None:  # a request through serving_default: no ID
        del instance["customerID"]
    signature = "with_customer_id" if "customerID" in instance else "serving_default"
    parsed = parse_request({"signature_name": signature, "instances": [instance] * count}, "tfserving", 100)
    batch, instances = parsed.batch, parsed.instances
    scores = Scores(np.full(count, 0.7), np.full(count, 0.6), np.full(count, 0.8), np.full(count, True))
    return predlog.request_record(request_id, predlog.utc_timestamp(moment), "3", "churn-endpoint", 1.5,
                                  instances, batch.numeric[:, 3], batch.customer_ids, scores)


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_concurrent_appends_are_all_committed(tmp_path: Path, sync: str) -> None:
    log = PredictionLog(tmp_path / "log.sqlite", sync).open()

    async def many() -> None:
        await asyncio.gather(*(log.append(rows(f"r{i}", count=1 + i % 3)) for i in range(40)))

    try:
        asyncio.run(many())
    finally:
        log.close()
    with sqlite3.connect(tmp_path / "log.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        counts = dict(db.execute("SELECT request_id, count(*) FROM predictions GROUP BY request_id"))
        row = db.execute("SELECT instance, features, churn_probability, churn FROM predictions "
                         "WHERE request_id = 'r2' ORDER BY instance DESC").fetchone()
    assert counts == {f"r{i}": 1 + i % 3 for i in range(40)}  # the per-instance SQL view
    assert row[0] == 2 and json.loads(row[1])["Contract"] == "Month-to-month" and row[2:] == (0.7, 1)


def test_appends_arriving_during_a_commit_share_one_transaction(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: the 30 requests queued while the first commit runs go into one
    transaction, and none of them returns before that transaction has committed."""
    batches: list[int] = []
    first_started, release_first = threading.Event(), threading.Event()
    commit = predlog._commit

    def held_commit(connection, records, busy_timeout_ms) -> None:  # noqa: ANN001
        batches.append(len(records))
        if len(batches) == 1:
            first_started.set()
            assert release_first.wait(10)
        commit(connection, records, busy_timeout_ms)

    monkeypatch.setattr(predlog, "_commit", held_commit)
    log = PredictionLog(tmp_path / "log.sqlite", commit_on_loop=False).open()  # commits on the log's thread

    async def scenario() -> None:
        first = asyncio.ensure_future(log.append(rows("r0")))
        deadline = time.monotonic() + 10
        while not first_started.is_set():
            assert time.monotonic() < deadline, "the first commit never started"
            await asyncio.sleep(0.001)
        queued = [asyncio.ensure_future(log.append(rows(f"r{i}", count=2))) for i in range(1, 31)]
        await asyncio.sleep(0.01)
        assert not first.done() and not any(task.done() for task in queued)  # nothing acknowledged yet
        release_first.set()
        await asyncio.gather(first, *queued)

    try:
        asyncio.run(scenario())
    finally:
        log.close()
    assert batches == [1, 30]  # 31 requests, 2 commits
    with sqlite3.connect(tmp_path / "log.sqlite") as db:
        counts = dict(db.execute("SELECT request_id, count(*) FROM predictions GROUP BY request_id"))
    assert counts == {"r0": 1, **{f"r{i}": 2 for i in range(1, 31)}}


def test_commits_on_the_loop_group_the_requests_of_one_turn(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """sync normal commits on the event loop: the requests queued in one loop turn share a
    transaction, none returns before it has committed, and no commit runs on another thread."""
    batches: list[tuple[int, str, int]] = []
    commit = predlog._commit

    def counted_commit(connection, records, busy_timeout_ms) -> None:  # noqa: ANN001
        committed = logged_count(tmp_path / "log.sqlite")
        batches.append((len(records), threading.current_thread().name, committed))
        commit(connection, records, busy_timeout_ms)

    monkeypatch.setattr(predlog, "_commit", counted_commit)
    log = PredictionLog(tmp_path / "log.sqlite").open()
    assert log.commit_on_loop

    async def scenario() -> None:
        tasks = [asyncio.ensure_future(log.append(rows(f"r{i}"))) for i in range(20)]
        await asyncio.sleep(0)  # the tasks queue their records in this turn
        assert not any(task.done() for task in tasks)
        await asyncio.gather(*tasks)
        await log.append(rows("later"))

    try:
        asyncio.run(scenario())
    finally:
        log.close()
    assert [(size, before) for size, _, before in batches] == [(20, 0), (1, 20)]
    assert {thread for _, thread, _ in batches} == {threading.main_thread().name}


def test_checkpoints_run_on_the_log_thread_between_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predlog, "CHECKPOINT_PAGES", 5)
    threads: list[str] = []
    checkpoint = PredictionLog._checkpoint

    def traced(self: PredictionLog) -> None:
        threads.append(threading.current_thread().name)
        checkpoint(self)

    monkeypatch.setattr(PredictionLog, "_checkpoint", traced)
    log = PredictionLog(tmp_path / "log.sqlite").open()

    async def scenario() -> None:
        for i in range(12):
            await log.append(rows(f"r{i}"))

    try:
        asyncio.run(scenario())
        assert log._connection is not None
        assert log._connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # ours instead
    finally:
        log.close()
    assert len(threads) >= 3 and all(name.startswith("prediction-log") for name in threads)
    assert logged_count(tmp_path / "log.sqlite") == 12


def logged_count(path: Path) -> int:
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_features_are_logged_as_values_in_one_order(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.write(rows("a", 2, customerID="7590-VHVEG", TotalCharges=0))
    log.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "log.sqlite")) as db:
        (stored,) = db.execute("SELECT instances FROM requests").fetchone()
        by_name = json.loads(db.execute("SELECT features FROM predictions LIMIT 1").fetchone()[0])
    entries = json.loads(stored)
    expected = [0.0 if name == "TotalCharges" else VALID[name] for name in predlog.LOGGED_FEATURES]
    assert [entry[0] for entry in entries] == ["7590-VHVEG"] * 2 and entries[0][1] == expected
    assert list(by_name) == list(schema.FEATURES)  # the view names them again, in schema order
    assert by_name == dict(zip(predlog.LOGGED_FEATURES, expected, strict=True))
    scores = Scores(*(np.full(1, 0.5) for _ in range(4)))
    as_text = predlog.request_record("b", predlog.utc_timestamp(T0), "3", "e", 1.0, [dict(VALID, TotalCharges=" ")],
                                     [0.0], [None], scores)
    assert json.loads(as_text[-1])[0][1] == expected  # TotalCharges sent as text: the number the model saw


OLD_VIEW = """CREATE VIEW IF NOT EXISTS predictions AS
SELECT r.request_id AS request_id, CAST(i.key AS INTEGER) AS instance,
       json_extract(i.value, '$[1]') AS features FROM requests AS r, json_each(r.instances) AS i"""


def test_logs_of_the_earlier_layout_are_read_and_their_view_replaced(tmp_path: Path) -> None:
    """Logs written before features were stored as values hold an object by name."""
    path = tmp_path / "log.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(predlog._CREATE)
        db.execute(OLD_VIEW)
        old = [[None, dict(VALID), 0.7, 0.6, 0.8, True]]
        db.execute(predlog._INSERT, ("old", predlog.utc_timestamp(T0), "3", "churn-endpoint", 1.5, 1,
                                     json.dumps(old)))
        db.commit()
    log = PredictionLog(path).open()
    log.write(rows("new"))
    log.close()
    frame = pd.concat(predlog.iter_log_frames(path), ignore_index=True)
    assert frame["request_id"].tolist() == ["old", "new"]
    assert frame["Contract"].tolist() == ["Month-to-month"] * 2 and frame["tenure"].tolist() == [1.0, 1.0]
    with contextlib.closing(sqlite3.connect(path)) as db:
        features = [json.loads(text) for (text,) in db.execute("SELECT features FROM predictions")]
        columns = [row[1] for row in db.execute("PRAGMA table_info(predictions)")]
    assert features[0] == features[1] == {name: VALID[name] for name in schema.FEATURES}
    assert "churn_probability" in columns  # the current view, not the old one


def test_frames_have_one_column_per_feature(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.write(rows("a", 2, customerID="7590-VHVEG", TotalCharges=0))
    log.write(rows("b", 3, T0 + dt.timedelta(hours=1)))
    log.close()
    frames = list(predlog.iter_log_frames(tmp_path / "log.sqlite", chunk_rows=2))
    assert [len(f) for f in frames] == [2, 3]  # whole requests, about chunk_rows each
    frame = pd.concat(frames, ignore_index=True)
    assert list(frame.columns) == list(predlog.FRAME_COLUMNS)
    assert frame["request_id"].tolist() == ["a", "a", "b", "b", "b"]
    assert frame["instance"].tolist() == [0, 1, 0, 1, 2]
    assert frame["TotalCharges"].tolist()[:2] == [0.0, 0.0]
    assert frame["Contract"].iloc[0] == "Month-to-month" and frame["tenure"].dtype == np.float64
    assert frame["customerID"].iloc[0] == "7590-VHVEG" and pd.isna(frame["customerID"].iloc[2])
    assert frame["churn"].all()
    assert frame["timestamp"].iloc[0] == pd.Timestamp(T0)


def test_time_window(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    for hour in range(5):
        log.write(rows(f"h{hour}", moment=T0 + dt.timedelta(hours=hour)))
    log.close()
    frames = predlog.iter_log_frames(tmp_path / "log.sqlite", since=T0 + dt.timedelta(hours=1),
                                     until=T0 + dt.timedelta(hours=3))
    assert pd.concat(frames)["request_id"].tolist() == ["h1", "h2"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_streams_to_csv_or_parquet(tmp_path: Path, suffix: str) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.write(rows("a", 3))
    log.write(rows("b", 2, customerID=None))
    log.close()
    out = tmp_path / f"out{suffix}"
    assert export_log(tmp_path / "log.sqlite", out, chunk_rows=2) == 5
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(frame) == 5 and set(schema.FEATURES) <= set(frame.columns)
    assert frame["churn_probability"].tolist() == [0.7] * 5
    assert not list(tmp_path.glob(".*partial"))


def test_export_of_an_empty_window_writes_nothing(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.write(rows("a"))
    log.close()
    out = tmp_path / "out.csv"
    with pytest.raises(PredictionLogError, match="no predictions logged since"):
        export_log(tmp_path / "log.sqlite", out, since=T0 + dt.timedelta(days=1))
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError, match="no prediction log yet"):
        list(predlog.iter_log_frames(tmp_path / "none.sqlite"))
    assert not (tmp_path / "none.sqlite").exists()
    (tmp_path / "other.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(PredictionLogError, match="not a prediction log"):
        list(predlog.iter_log_frames(tmp_path / "other.sqlite"))
    with pytest.raises(PredictionLogError, match=".csv or .parquet"):
        export_log(tmp_path / "none.sqlite", tmp_path / "out.xlsx")


def test_unwritable_location_fails_at_open(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PredictionLogError, match="cannot open"):
        PredictionLog(tmp_path / "file" / "log.sqlite").open()


@pytest.mark.parametrize("text, expected", [
    ("2026-01-01", T0.replace(hour=0)),
    ("2026-01-01T12:00:00Z", T0),
    ("2026-01-01T13:00:00+01:00", T0),
    ("30m", T0 - dt.timedelta(minutes=30)),
    ("2d", T0 - dt.timedelta(days=2)),
])
def test_parse_time(text: str, expected: dt.datetime) -> None:
    assert predlog.parse_time(text, now=T0) == expected


def test_parse_time_refuses_nonsense() -> None:
    with pytest.raises(PredictionLogError, match="expected an ISO time"):
        predlog.parse_time("yesterday")


def test_timestamps_sort_as_text() -> None:
    moments = [T0, T0.replace(microsecond=1), T0 + dt.timedelta(seconds=1)]
    texts = [predlog.utc_timestamp(m) for m in moments]
    assert texts == sorted(texts) and texts[0] == "2026-01-01T12:00:00.000000Z"


def test_append_after_close_fails_instead_of_hanging(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.close()

    async def append() -> None:
        await asyncio.wait_for(log.append(rows("late")), timeout=5)

    with pytest.raises(PredictionLogError, match="closed"):
        asyncio.run(append())


def logged_ids(path: Path) -> list[str]:
    return [f["request_id"].iloc[i] for f in predlog.iter_log_frames(path) for i in range(len(f))]


def test_new_log_files_are_private(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite").open()
    log.write(rows("a"))
    try:
        for suffix in ("", "-wal", "-shm"):
            assert (tmp_path / f"log.sqlite{suffix}").stat().st_mode & 0o777 == 0o600, suffix
    finally:
        log.close()


def test_a_log_deleted_under_the_writer_is_started_again(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "log.sqlite"
    log = PredictionLog(path).open()

    async def append(request_id: str) -> None:
        await log.append(rows(request_id))

    try:
        asyncio.run(append("before"))
        for file in tmp_path.glob("log.sqlite*"):  # rm artifacts/predictions.sqlite*
            file.unlink()
        asyncio.run(append("after"))
    finally:
        log.close()
    assert logged_ids(path) == ["after"]  # acknowledged means readable at the path
    assert "deleted or replaced" in caplog.text and path.stat().st_mode & 0o777 == 0o600


def test_a_log_deleted_during_a_commit_fails_that_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.sqlite"
    log = PredictionLog(path).open()
    commit = predlog._commit

    def commit_then_delete(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        commit(*args, **kwargs)
        for file in tmp_path.glob("log.sqlite*"):
            file.unlink()

    monkeypatch.setattr(predlog, "_commit", commit_then_delete)
    try:
        with pytest.raises(PredictionLogError, match="deleted or replaced during a write"):
            log.write(rows("lost"))
        monkeypatch.setattr(predlog, "_commit", commit)
        log.write(rows("kept"))
    finally:
        log.close()
    assert logged_ids(path) == ["kept"]


LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_log_locked_by_another_process_fails_fast_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    log = PredictionLog(path, busy_timeout_ms=200).open()
    log.write(rows("first"))
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    async def append_while_ticking() -> tuple[BaseException | None, float, float]:
        gaps, last = [], time.perf_counter()

        async def tick() -> None:
            nonlocal last
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        started = time.perf_counter()
        try:
            await log.append(rows("while-locked"))
        except PredictionLogError as exc:
            error: BaseException | None = exc
        else:
            error = None
        waited = time.perf_counter() - started
        ticker.cancel()
        return error, waited, max(gaps)

    try:
        assert holder.stdout.readline().strip() == "locked"
        error, waited, longest_gap = asyncio.run(append_while_ticking())
        holder.communicate("", timeout=10)  # release the lock
        log.write(rows("after"))
    finally:
        if holder.poll() is None:
            holder.kill()
        log.close()
    assert isinstance(error, PredictionLogError) and "locked by another process (waited 200 ms)" in str(error)
    assert 0.15 < waited < 2.0
    assert longest_gap < 0.1  # the event loop kept running while the commit waited
    assert logged_ids(path) == ["first", "after"]
