"""The schedule's settings and the claim that lets one run of a job happen per interval."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from matf.errors import ConfigError
from matf.settings import parse_interval
from matf.storage.db import get_engine, session_scope
from matf.storage.schedule import claim, finish, jobs
from tests.conftest import make_settings, subprocess_env


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", 3600),
        ("5m", 300),
        ("1h30m", 5400),
        ("90s", 90),
        ("90", 90),
        (" 1d ", 86400),
        ("1500ms", 1.5),
        (2, 2),
    ],
)
def test_intervals_read_as_seconds(text: str | int, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("backup_interval", "5 minutes", "BACKUP_INTERVAL"),
        ("optimizer_interval", "0.5s", "OPTIMIZER_INTERVAL"),
        ("retention_interval", "", "RETENTION_INTERVAL"),
        ("backup_keep", 0, "BACKUP_KEEP"),
        ("log_retention_days", 0, "LOG_RETENTION_DAYS"),
        ("optimization_threshold", 1.5, "OPTIMIZATION_THRESHOLD"),
    ],
)
def test_a_bad_schedule_setting_fails_at_start_naming_it(
    tmp_path: Path, name: str, value: object, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **{name: value})
    assert str(caught.value).startswith(f"invalid {says}:")
    assert "\n" not in str(caught.value)


def test_the_guides_defaults(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.interval_s("optimizer") == 3600
    assert settings.interval_s("backup") == 300
    assert settings.interval_s("retention") == 86400
    assert (settings.backup_keep, settings.log_retention_days) == (14, 30)
    assert (settings.optimization_threshold, settings.historical_data_days) == (0.8, 30)


def _engine(folder: Path):  # noqa: ANN202 - the test's own engine
    return get_engine(make_settings(folder).database_url)


def test_one_claim_per_interval_and_the_next_one_after_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        first = claim(s, "backup", 60, "a", hold_s=30, now=t0)
    with session_scope(engine, write=True) as s:
        double = claim(s, "backup", 60, "b", hold_s=30, now=t0 + timedelta(seconds=5))
    assert first is not None and double is None
    with session_scope(engine, write=True) as s:
        finish(s, first, "ok", {"bytes": 10}, {"bytes": 10})
    with session_scope(engine, write=True) as s:
        # 55 s later is within jitter of the next interval (90 % of it): it runs.
        later = claim(s, "backup", 60, "b", hold_s=30, now=t0 + timedelta(seconds=55))
    assert later is not None
    with session_scope(engine, write=True) as s:
        finish(s, later, "failed", {"error": "disk full"})
    with session_scope(engine) as s:
        row = jobs(s)["backup"]
    assert (row.runs, row.skipped, row.last_outcome) == (2, 1, "failed")
    assert row.last_detail == {"error": "disk full"}
    assert row.totals["ok"] == 1 and row.totals["failed"] == 1 and row.totals["bytes"] == 10
    assert row.held_until is None


def test_a_holder_that_died_blocks_the_job_only_for_its_hold(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        assert claim(s, "optimizer", 10, "dead", hold_s=100, now=t0) is not None
    with session_scope(engine, write=True) as s:  # an interval later, still held
        assert claim(s, "optimizer", 10, "b", hold_s=100, now=t0 + timedelta(seconds=50)) is None
    with session_scope(engine, write=True) as s:  # the hold ran out
        taken = claim(s, "optimizer", 10, "b", hold_s=100, now=t0 + timedelta(seconds=101))
    assert taken is not None
    with session_scope(engine, write=True) as s:
        finish(s, taken, "ok", {"n": 1})
    # The dead holder's late finish changes nothing: the newer run's record stands.
    from matf.storage.schedule import Claim

    with session_scope(engine, write=True) as s:
        finish(s, Claim("optimizer", "dead", t0), "failed", {"error": "late"})
    with session_scope(engine) as s:
        row = jobs(s)["optimizer"]
    assert (row.holder, row.last_outcome, row.last_detail) == ("b", "ok", {"n": 1})


def _race(
    url: str,
    holder: str,
    start: multiprocessing.synchronize.Event,
    won: multiprocessing.Queue[str],
) -> None:  # noqa: E501
    engine = get_engine(url)
    start.wait()
    with session_scope(engine, write=True) as s:
        if claim(s, "retention", 3600, holder, hold_s=600) is not None:
            won.put(holder)


def test_processes_racing_for_one_interval_give_it_to_exactly_one(tmp_path: Path) -> None:
    url = make_settings(tmp_path).database_url
    get_engine(url)  # migrated before the race
    ctx = multiprocessing.get_context("spawn")
    start, won = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(url, f"p{i}", start, won)) for i in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    winners = []
    while not won.empty():
        winners.append(won.get())
    assert len(winners) == 1
    with session_scope(get_engine(url)) as s:
        row = jobs(s)["retention"]
    assert (row.runs, row.skipped, row.holder) == (1, 3, winners[0])


def test_beat_with_a_bad_interval_stops_with_one_line(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", BACKUP_INTERVAL="5minutes")
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "beat"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "matf: invalid BACKUP_INTERVAL: Value error, '5minutes' is not an interval "
        "such as 30s, 5m, 1h, 1d or 1h30m"
    ]


def test_a_forced_claim_skips_the_interval_but_never_a_holder(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        first = claim(s, "optimizer", 3600, "beat", hold_s=600, now=t0)
    assert first is not None
    # While the scheduled run holds the job, a forced one is refused: runs never overlap
    with session_scope(engine, write=True) as s:
        held = claim(s, "optimizer", 3600, "api", 600, now=t0 + timedelta(seconds=5), force=True)
    assert held is None
    with session_scope(engine, write=True) as s:
        finish(s, first, "ok", {"analysis_id": 1})
    # Once it ended, a second later: an unforced send is a double, a forced one runs
    later = t0 + timedelta(seconds=60)
    with session_scope(engine, write=True) as s:
        assert claim(s, "optimizer", 3600, "beat2", hold_s=600, now=later) is None
    with session_scope(engine, write=True) as s:
        forced = claim(s, "optimizer", 3600, "api", hold_s=600, now=later, force=True)
    assert forced is not None and forced.started_at == later
    with session_scope(engine) as s:
        row = jobs(s)["optimizer"]
    assert (row.runs, row.skipped, row.holder) == (2, 2, "api")
