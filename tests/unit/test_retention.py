"""The logger's retention: old runs, events and their files go; baselines and suites stay."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from matf.options import RunOptions
from matf.results import RunStatus
from matf.storage.db import get_engine, session_scope, sessions_for
from matf.storage.models import (
    AttemptRow,
    Event,
    HealingProposal,
    Run,
    Suite,
    SuiteCase,
    TestCase,
    TestResultRow,
)
from matf.storage.retention import apply_retention
from tests.conftest import make_settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=3)


def _run(s, run_id: str, created: datetime, status: RunStatus, results: int = 2) -> None:  # noqa: ANN001
    s.add(
        Run(
            id=run_id,
            target="http://site.test/",
            status=status,
            options=RunOptions(),
            created_at=created,
        )
    )
    s.flush()
    for i in range(results):
        s.add(TestCase(run_id=run_id, case_id=f"c{i}", position=i, spec={"id": f"c{i}"}))
        s.add(
            TestResultRow(
                run_id=run_id,
                case_id=f"c{i}",
                browser="chromium",
                status="passed",
                data={},
                created_at=created,
            )
        )
        s.add(
            AttemptRow(run_id=run_id, case_id=f"c{i}", browser="chromium", attempt=1, passed=True)
        )
    s.add(
        Event(
            key=f"run_started:{run_id}",
            run_id=run_id,
            kind="run_started",
            agent="context",
            payload={},
            created_at=created,
        )
    )


def _files(root: Path, run_id: str, size: int, when: datetime) -> None:
    for folder, name in (("artifacts", "shot.png"), ("reports", "report.html")):
        path = root / folder / run_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (when.timestamp(), when.timestamp()))
        os.utime(path.parent, (when.timestamp(), when.timestamp()))


def _history(engine, root: Path, outside: Path) -> Path:  # noqa: ANN001
    """Old and recent runs, events, files, a baseline, a suite, a link out; the baseline."""
    with session_scope(engine, write=True) as s:
        _run(s, "old-passed", OLD, RunStatus.PASSED, results=3)
        _run(s, "old-failed", OLD, RunStatus.FAILED)
        _run(s, "old-running", OLD, RunStatus.RUNNING)  # never: it has not ended
        _run(s, "old-reviewed", OLD, RunStatus.FAILED)  # a healing proposal waits on it
        _run(s, "recent", RECENT, RunStatus.PASSED)
        s.add(
            HealingProposal(
                id="hp1",
                run_id="old-reviewed",
                case_id="c0",
                browser="chromium",
                outcome="passed",
                spec={},
                status="pending",
            )
        )
        s.add(
            Event(
                key="old-lone",
                run_id=None,
                kind="agent",
                agent="logger",
                payload={},
                created_at=OLD,
            )
        )
        s.add(
            Suite(
                id="suite1", name="kept", target="http://site.test/", created_at=OLD, updated_at=OLD
            )
        )
        s.flush()
        s.add(SuiteCase(suite_id="suite1", case_id="c0", spec={"id": "c0"}, updated_at=OLD))
    _files(root, "old-passed", 1000, OLD)
    _files(root, "old-failed", 500, OLD)
    _files(root, "recent", 100, RECENT)
    _files(root, "orphan-gone-run", 50, OLD)  # a pass stopped between its row and its files
    baseline = root / "baselines" / "site" / "home.png"
    baseline.parent.mkdir(parents=True)
    baseline.write_bytes(b"b" * 10)
    os.utime(baseline, (OLD.timestamp(), OLD.timestamp()))
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (root / "artifacts" / "link-out").symlink_to(outside, target_is_directory=True)

    return baseline


def test_retention_deletes_what_is_old_and_keeps_what_must_stay(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = get_engine(settings.database_url)
    root = Path(settings.storage_path)
    outside = tmp_path / "outside"
    baseline = _history(engine, root, outside)

    done = apply_retention(sessions_for(engine), root, days=30, now=NOW)

    assert (done.runs, done.results, done.attempts) == (2, 5, 5)
    assert done.events == 3  # the two runs' and the lone one
    assert done.kept_pending_review == 1
    assert done.files == 6  # two runs' and the orphan's screenshot and report
    assert done.file_bytes == 2 * (1000 + 500 + 50)
    with session_scope(engine) as s:
        assert set(s.scalars(select(Run.id))) == {"old-running", "old-reviewed", "recent"}
        assert (
            s.scalar(
                select(func.count())
                .select_from(TestCase)
                .where(TestCase.run_id.in_(["old-passed", "old-failed"]))
            )
            == 0
        )
        assert s.scalar(select(func.count()).select_from(Event)) == 3  # the kept runs'
        assert s.get(Suite, "suite1") is not None
        assert s.scalar(select(func.count()).select_from(SuiteCase)) == 1
        assert s.get(HealingProposal, "hp1") is not None
    for gone in ("old-passed", "old-failed", "orphan-gone-run"):
        assert not (root / "artifacts" / gone).exists()
        assert not (root / "reports" / gone).exists()
    assert (root / "artifacts" / "recent" / "shot.png").is_file()
    assert baseline.is_file()
    assert (outside / "precious.txt").read_text() == "keep me"

    again = apply_retention(sessions_for(engine), root, days=30, now=NOW)
    assert (again.runs, again.events, again.files) == (0, 0, 0)


def test_retention_works_through_many_batches(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = get_engine(settings.database_url)
    with session_scope(engine, write=True) as s:
        for i in range(450):
            _run(s, f"r{i:04d}", OLD, RunStatus.PASSED, results=1)
    done = apply_retention(sessions_for(engine), Path(settings.storage_path), days=30, now=NOW)
    assert (done.runs, done.results, done.events) == (450, 450, 450)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0
