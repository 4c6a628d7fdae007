"""Celery beat's jobs on a real cluster: two beats, one control worker, short intervals.

Each job runs on its interval from real beat processes through a real worker:
retention deletes an old run, backups appear and verify, the optimizer stores
its analysis. Two beats send every job twice; each interval's run happens
once (the job's claim), which the jobs' `job_finished` events show: no two
starts of a job closer than its interval allows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from matf.options import RunOptions
from matf.results import RunStatus
from matf.storage.backup import list_backups, verify_backup
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Event, Run
from matf.storage.optimizer import latest_analysis
from matf.storage.schedule import EARLY, jobs
from tests.conftest import make_settings, subprocess_env
from tests.services import RedisServer, kill_group, start_beat, start_worker

INTERVAL_S = 2.0
JOB_NAMES = ("optimizer", "backup", "retention")


def _starts(engine: Any) -> dict[str, list[datetime]]:
    with session_scope(engine) as session:
        events = session.scalars(select(Event).where(Event.kind == "job_finished")).all()
    starts: dict[str, list[datetime]] = defaultdict(list)
    for event in events:
        starts[event.payload["job"]].append(datetime.fromisoformat(event.payload["started_at"]))
    return {name: sorted(times) for name, times in starts.items()}


def _wait_for_runs(engine: Any, runs: int, logs: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        starts = _starts(engine)
        if all(len(starts.get(name, [])) >= runs for name in JOB_NAMES):
            return
        time.sleep(0.3)
    raise AssertionError(
        f"jobs did not run {runs} times each: {_starts(engine)}\n" + logs.read_text()[-3000:]
    )


def test_two_beats_run_each_job_once_per_interval(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    every = f"{INTERVAL_S:g}s"
    backups = tmp_path / "backups"
    env = subprocess_env(
        tmp_path,
        REDIS_URL=redis.url,
        OPTIMIZER_INTERVAL=every,
        BACKUP_INTERVAL=every,
        RETENTION_INTERVAL=every,
        BACKUP_PATH=str(backups),
        BACKUP_KEEP="3",
    )
    settings = make_settings(tmp_path, redis_url=redis.url)
    engine = get_engine(settings.database_url)
    with session_scope(engine, write=True) as session:
        session.add(
            Run(
                id="ancient",
                target="http://a.test/",
                status=RunStatus.FAILED,
                options=RunOptions(),
                created_at=datetime.now(UTC) - timedelta(days=45),
            )
        )
    log: IO[str] = open(tmp_path / "cluster.log", "a")  # noqa: SIM115 - closed below
    procs = []
    try:
        procs.append(
            start_worker(tmp_path, env, "control@%h", "context,optimizer,logger", 2, "INFO", log)
        )
        (tmp_path / "beat2").mkdir()
        procs.append(start_beat(tmp_path, env, log))
        procs.append(start_beat(tmp_path / "beat2", env, log))
        _wait_for_runs(engine, 4, tmp_path / "cluster.log")
    finally:
        for proc in procs:
            kill_group(proc)
        log.close()
        redis.stop()

    starts = _starts(engine)
    for name in JOB_NAMES:
        gaps = [(b - a).total_seconds() for a, b in pairwise(starts[name])]
        assert min(gaps) >= INTERVAL_S * EARLY, (name, gaps)  # never doubled
    with session_scope(engine) as session:
        rows = jobs(session)
        assert session.get(Run, "ancient") is None
    for name in JOB_NAMES:
        assert rows[name].last_outcome == "ok", (name, rows[name].last_detail)
        assert rows[name].skipped >= 1, name  # the second beat's sends, refused
    assert rows["retention"].totals["runs"] == 1
    kept = list_backups(make_settings(tmp_path, backup_path=backups, backup_keep=3))
    assert 1 <= len(kept) <= 3  # pruned to BACKUP_KEEP
    assert rows["backup"].totals["backups"] >= 4
    for made in kept:
        assert verify_backup(made.path).ok, made
    with session_scope(engine) as session:
        analysis = latest_analysis(session)
    assert analysis is not None and rows["optimizer"].totals["analyses"] >= 4
