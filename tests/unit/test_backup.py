"""Backups: online copies under steady writers, verification, pruning, restore, refusals.

Real SQLite files and real processes: two writer processes insert results
through MATF's own storage code while backups are taken; a crash is a process
that dies mid-backup; a live run's driver is a process that runs.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from matf.errors import EnvironmentProblem, UsageError
from matf.options import RunOptions
from matf.settings import Settings
from matf.storage.backup import (
    create_backup,
    list_backups,
    prune,
    restore_backup,
    scheduled_backup,
    verify_backup,
)
from matf.storage.backup_files import STALE_PARTIAL_S, read_manifest, sha256, write_manifest
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Event, Run
from matf.storage.runs import create_run
from tasks.control import running_work
from tasks.heartbeat import HEARTBEATS
from tests.conftest import ROOT, make_settings, subprocess_env

# One writer: its own run, then one result per transaction, each logged once committed.
WRITER = r"""
import sys, time
from pathlib import Path
from matf.options import RunOptions
from matf.results import TestResult
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Event, Run
from matf.storage.runs import create_run, record_results

url, name, log, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
engine = get_engine(url)
with session_scope(engine, write=True) as session:
    run_id = create_run(session, "http://127.0.0.1/", RunOptions()).id
with open(log, "a", buffering=1) as out:
    for number in range(200_000):
        if stop.exists():
            break
        case = f"{name}-{number}"
        result = TestResult(
            run_id=run_id, case_id=case, name=case, kind="functional", category="custom",
            browser="chromium", status="passed", url="http://127.0.0.1/",
        )
        with session_scope(engine, write=True) as session:
            record_results(session, [result])
        out.write(f"{case} {time.time()!r}\n")
"""

# A backup whose process dies (SIGKILL-like) once the copies are made, before the manifest.
CRASH = r"""
import os
from matf.settings import load_settings
from matf.storage import backup
backup.write_manifest = lambda *args: os._exit(9)
backup.create_backup(load_settings())
"""


def _settings(folder: Path, **overrides: object) -> Settings:
    return make_settings(folder, backup_path=folder / "backups", **overrides)


def _database(settings: Settings) -> Path:
    get_engine(settings.database_url)  # created and migrated
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _cases(database: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT case_id FROM test_results")}
    finally:
        conn.close()


def _committed(logs: list[Path]) -> list[tuple[str, float]]:
    """Every (case, time its commit had returned) the writers logged; a torn last line skipped."""
    found = []
    for log in logs:
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                found.append((parts[0], float(parts[1])))
    return found


def _wait_for_rows(logs: list[Path], writers: list[subprocess.Popen[str]], more: int) -> None:
    """Until every writer has committed ``more`` rows beyond what it had (timeout: fail)."""

    def count(log: Path) -> int:
        return log.read_text().count("\n") if log.exists() else 0

    targets = [count(log) + more for log in logs]
    deadline = time.monotonic() + 60
    while any(count(log) < target for log, target in zip(logs, targets, strict=True)):
        for writer in writers:
            assert writer.poll() is None, writer.communicate()[1]
        assert time.monotonic() < deadline, "the writers stopped writing"
        time.sleep(0.01)


def test_backups_under_two_steady_writers_verify_and_lose_no_committed_row(
    tmp_path: Path,
) -> None:
    # Given a database of some megabytes (a copy takes a while), and two processes
    # inserting results into it, one per transaction, as fast as they can
    settings = _settings(tmp_path)
    database = _database(settings)
    with session_scope(get_engine(settings.database_url), write=True) as session:
        session.add_all(
            Event(key=f"pad:{n}", kind="log", agent="logger", payload={"text": "x" * 2000})
            for n in range(3000)
        )
    stop, logs = tmp_path / "stop", [tmp_path / "w1.log", tmp_path / "w2.log"]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, settings.database_url, name, str(log), str(stop)],
            cwd=ROOT,
            env=subprocess_env(tmp_path),
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, log in zip(("w1", "w2"), logs, strict=True)
    ]
    taken = []
    try:
        # When backups are taken while they write, each after both committed more
        for _ in range(4):
            _wait_for_rows(logs, writers, more=25)
            started = time.time()
            taken.append((started, create_backup(settings)))
        _wait_for_rows(logs, writers, more=25)
    finally:
        stop.touch()
        for writer in writers:
            writer.wait(timeout=60)
    assert all(writer.returncode == 0 for writer in writers)
    committed = _committed(logs)

    # Then every backup verifies and holds every row committed before it started
    for started, made in taken:
        assert verify_backup(made.path).ok, verify_backup(made.path).reason
        before = {case for case, at in committed if at < started}
        in_copy = _cases(made.path / "database.sqlite3")
        assert before and before <= in_copy
        assert made.tables["test_results"] == len(in_copy)
    # (and the writers went on meanwhile: the last copy misses what came after it)
    last_started, last = taken[-1]
    assert {case for case, _ in committed} - _cases(last.path / "database.sqlite3")

    # When the last one is restored
    restored = restore_backup(settings, last.path, running=[])

    # Then the database is that copy: nothing committed before it started is lost
    now_in_db = _cases(database)
    assert {case for case, at in committed if at < last_started} <= now_in_db
    assert now_in_db == _cases(last.path / "database.sqlite3")
    # and what it replaced, every committed row, is kept aside
    assert restored.database_aside is not None
    assert _cases(restored.database_aside) == {case for case, _ in committed}


def test_two_backups_in_the_same_second_get_distinct_names(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _database(settings)
    moment = datetime(2026, 12, 7, 11, 15, tzinfo=UTC)
    first = create_backup(settings, now=moment)
    second = create_backup(settings, now=moment)
    assert (first.name, second.name) == ("matf-20261207T111500Z", "matf-20261207T111500Z-2")
    assert [b.name for b in list_backups(settings)] == [second.name, first.name]


def test_prune_keeps_the_newest_and_nothing_that_is_not_ours(tmp_path: Path) -> None:
    # Given five backups, and beside them things that are not backups of ours
    settings = _settings(tmp_path)
    _database(settings)
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    made = [create_backup(settings, now=start + timedelta(minutes=5 * i)) for i in range(5)]
    root = Path(settings.backup_path)
    (root / "notes.txt").write_text("mine")
    (root / "matf-notes").mkdir()
    (root / "matf-20200101T000000Z").mkdir()  # named like ours, no manifest of ours
    stale, fresh = root / ".partial-matf-20261207T090000Z-a", root / ".partial-matf-now-b"
    stale.mkdir()
    fresh.mkdir()
    old = time.time() - STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))

    # When pruned to two
    removed = prune(settings, keep=2)

    # Then the three oldest backups and the stale partial one are gone, nothing else
    assert sorted(removed) == sorted([*(b.path for b in made[:3]), stale])
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted(
        [made[3].name, made[4].name, "notes.txt", "matf-notes", "matf-20200101T000000Z",
         fresh.name]
    )  # fmt: skip
    with pytest.raises(UsageError, match="at least one"):
        prune(settings, keep=0)


def test_a_corrupted_backup_fails_verify_with_its_reason(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    database = _database(settings)
    baselines = Path(settings.storage_path) / "baselines" / "127.0.0.1"
    baselines.mkdir(parents=True)
    (baselines / "home.png").write_bytes(b"\x89PNG fake")
    with session_scope(get_engine(settings.database_url), write=True) as session:
        for _ in range(50):
            create_run(session, "http://127.0.0.1/" + "x" * 500, RunOptions())
    assert database.exists()
    moment = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    flipped, malformed, missing = (
        create_backup(settings, now=moment + timedelta(seconds=i)).path for i in range(3)
    )

    # A byte changed: the checksum says so
    copy = flipped / "database.sqlite3"
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert verify_backup(flipped).reason == "database.sqlite3 does not match its checksum"

    # Pages overwritten and the manifest made to match: the integrity check says so
    copy = malformed / "database.sqlite3"
    data = bytearray(copy.read_bytes())
    data[4096 * 2 : 4096 * 4] = b"\x07" * 8192
    copy.write_bytes(bytes(data))
    manifest = read_manifest(malformed)
    manifest["files"]["database.sqlite3"]["sha256"] = sha256(copy)
    write_manifest(malformed / "manifest.json", manifest)
    check = verify_backup(malformed)
    assert not check.ok and check.reason.startswith("database.sqlite3 fails its integrity check")

    # A file gone: named
    (missing / "baselines" / "127.0.0.1" / "home.png").unlink()
    assert verify_backup(missing).reason == "baselines/127.0.0.1/home.png is missing"

    # A folder without a manifest is no backup
    assert "no manifest.json" in verify_backup(tmp_path).reason
    with pytest.raises(UsageError, match="not a good backup: database.sqlite3 does not match"):
        restore_backup(settings, flipped, running=[])


def test_restore_puts_back_database_and_baselines_and_keeps_the_current_aside(
    tmp_path: Path,
) -> None:
    # Given a backup, then a new run and a changed baseline
    settings = _settings(tmp_path)
    database = _database(settings)
    root = Path(settings.storage_path) / "baselines"
    (root / "site").mkdir(parents=True)
    (root / "site" / "home.png").write_bytes(b"before")
    made = create_backup(settings)
    with session_scope(get_engine(settings.database_url), write=True) as session:
        run_id = create_run(session, "http://127.0.0.1/", RunOptions()).id
    (root / "site" / "home.png").write_bytes(b"after")

    # When the backup is restored
    done = restore_backup(settings, made.path, running=[])

    # Then the run is gone and the old image back; what they replaced is kept aside
    def runs(path: Path) -> list[str]:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return [row[0] for row in conn.execute("SELECT id FROM runs")]

    assert runs(database) == []
    assert (root / "site" / "home.png").read_bytes() == b"before"
    assert done.database_aside is not None and runs(done.database_aside) == [run_id]
    assert done.baselines_aside is not None
    assert (done.baselines_aside / "site" / "home.png").read_bytes() == b"after"
    # and the process that had the database open reads the restored one, as it is
    with session_scope(get_engine(settings.database_url)) as session:
        assert session.get(Run, run_id) is None


def test_restore_over_a_corrupt_database_moves_its_files_aside(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    database = _database(settings)
    made = create_backup(settings)
    get_engine(settings.database_url).dispose()
    database.write_bytes(b"this is not a database" * 300)
    database.with_name(database.name + "-wal").write_bytes(b"stale wal")

    done = restore_backup(settings, made.path, running=[])

    assert done.database_aside is not None
    assert done.database_aside.read_bytes().startswith(b"this is not a database")
    assert done.database_aside.with_name(done.database_aside.name + "-wal").exists()
    assert not database.with_name(database.name + "-wal").exists()
    assert verify_backup(made.path).ok and _cases(database) == set()


def test_restore_refuses_while_a_runs_driver_is_alive(tmp_path: Path) -> None:
    # Given a run whose driver is a live process of this host
    settings = _settings(tmp_path)
    database = _database(settings)
    made = create_backup(settings)
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with session_scope(get_engine(settings.database_url), write=True) as session:
            run = create_run(session, "http://127.0.0.1/", RunOptions())
            run.driver = f"{socket.gethostname()}:{driver.pid}:"
            run_id = run.id

        # When a restore is asked for, then it is refused, naming the run, and nothing moved
        running = running_work(settings)
        assert running == [f"run {run_id} (driven by {socket.gethostname()}:{driver.pid}:)"]
        with pytest.raises(UsageError, match=f"will not restore while .*run {run_id}"):
            restore_backup(settings, made.path, running)
        assert sorted(p.name for p in database.parent.glob("*.before-restore-*")) == []
    finally:
        driver.kill()
        driver.wait()
    # Once it is gone, nothing runs
    assert running_work(settings) == []


def test_a_postgresql_url_is_refused_with_pg_dump_and_nothing_is_created(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url="postgresql://matf:secret@127.0.0.1:9/matf")
    for call in (
        lambda: create_backup(settings),
        lambda: list_backups(settings),
        lambda: prune(settings, 3),
        lambda: restore_backup(settings, tmp_path, running=[]),
    ):
        with pytest.raises(UsageError, match="pg_dump") as raised:
            call()
        assert "\n" not in str(raised.value)
    detail = scheduled_backup(settings)
    assert detail["skipped"] is True and "pg_dump" in detail["reason"]
    assert not Path(settings.backup_path).exists()


def test_a_crash_mid_backup_leaves_nothing_listed(tmp_path: Path) -> None:
    # Given a backup process that dies after copying, before its manifest
    settings = _settings(tmp_path)
    _database(settings)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH],
        cwd=ROOT,
        env=subprocess_env(tmp_path, BACKUP_PATH=str(settings.backup_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == 9, crashed.stderr
    root = Path(settings.backup_path)
    [partial] = list(root.iterdir())
    assert partial.name.startswith(".partial-") and (partial / "database.sqlite3").exists()

    # Then it is not listed, not pruned while it may be in progress, and cleared once stale
    assert list_backups(settings) == []
    assert prune(settings, keep=1) == []
    made = create_backup(settings)
    assert [b.name for b in list_backups(settings)] == [made.name]
    old = time.time() - STALE_PARTIAL_S - 60
    os.utime(partial, (old, old))
    assert prune(settings, keep=1) == [partial]


def test_scheduled_backup_creates_verifies_prunes_and_answers_in_json(tmp_path: Path) -> None:
    settings = _settings(tmp_path, backup_keep=2)
    assert scheduled_backup(settings) == {
        "skipped": True,
        "reason": f"no database at {tmp_path / 'matf.db'} yet",
    }
    _database(settings)
    details = [scheduled_backup(settings) for _ in range(3)]
    assert [d["pruned"] for d in details] == [0, 0, 1]
    last = details[-1]
    assert last["verified"] is True and last["problems"] == [] and last["skipped"] is False
    assert last["bytes"] > 0 and last["revision"] and last["seconds"] >= 0
    assert json.loads(json.dumps(last)) == last
    assert [str(b.path) for b in list_backups(settings)][0] == last["path"]
    assert len(list_backups(settings)) == 2


def test_a_backup_from_a_newer_schema_is_not_restored(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _database(settings)
    made = create_backup(settings)
    manifest = read_manifest(made.path)
    manifest["revision"] = "9999"
    write_manifest(made.path / "manifest.json", manifest)
    with pytest.raises(UsageError, match="schema revision 9999, newer than"):
        restore_backup(settings, made.path, running=[])


def test_in_distributed_mode_a_live_worker_refuses_the_restore(
    tmp_path: Path, redis_url: str
) -> None:
    # Given a worker whose heartbeat is fresh and one whose heartbeat went stale
    settings = _settings(tmp_path, redis_url=redis_url)
    _database(settings)
    client = redis.Redis.from_url(redis_url)
    stale_at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    client.hset(HEARTBEATS, "executor@live", json.dumps({"at": datetime.now(UTC).isoformat()}))
    client.hset(HEARTBEATS, "executor@gone", json.dumps({"at": stale_at}))
    try:
        # Then only the live one counts as running
        assert running_work(settings) == ["worker executor@live"]
    finally:
        client.hdel(HEARTBEATS, "executor@live", "executor@gone")
        client.close()
    # And a Redis that does not answer is no "nothing runs"
    dead = _settings(tmp_path, redis_url="redis://127.0.0.1:9/0")
    with pytest.raises(EnvironmentProblem, match="cannot tell whether workers are running"):
        running_work(dead)
