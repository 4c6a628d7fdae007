"""The logger's retention: what is older than ``LOG_RETENTION_DAYS`` goes, a batch at a time.

Deleted: ended runs created before the cutoff (with their cases, results,
attempts and decided healing proposals), events created before it (but not
those of a run that is kept), and the runs' files under ``STORAGE_PATH`` (screenshots, traces,
videos, visual diffs in ``artifacts/<run>``, reports in ``reports/<run>``).
Kept whatever their age: visual baselines, saved suites, a run still queued or
running, and a run with a healing proposal nobody has decided yet (deleting it
would take the proposal with it).

Each batch is its own short write transaction, so a worker stopped half way
leaves whole runs deleted or kept, and the next pass deletes the rest. A run's
files go after its row: a file left behind by a stop in between is an orphan
the next pass removes (a run folder whose run is gone and whose files are
older than the cutoff).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from matf.results import FINAL_STATUSES
from matf.storage.db import Sessions
from matf.storage.models import (
    AttemptRow,
    Event,
    HealingProposal,
    Run,
    SessionState,
    TestCase,
    TestResultRow,
)

log = logging.getLogger("matf.logger")

BATCH = 200  # runs, or events x 10, per write transaction
RUN_FOLDERS = ("artifacts", "reports")  # under STORAGE_PATH, one folder per run id


@dataclass
class Retained:
    """What one pass deleted, and the space it freed."""

    cutoff: str
    runs: int = 0
    results: int = 0
    attempts: int = 0
    events: int = 0
    files: int = 0
    file_bytes: int = 0
    kept_pending_review: int = 0
    expired_sign_ins: int = 0

    def as_detail(self) -> dict[str, Any]:
        return asdict(self)


def apply_retention(
    sessions: Sessions, storage_root: Path, days: int, now: datetime | None = None
) -> Retained:
    """Delete what is older than ``days`` days; what was deleted and freed."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    done = Retained(cutoff=cutoff.isoformat())
    for batch in _run_batches(sessions, cutoff, done):
        for run_id in batch:
            _remove_run_files(storage_root, run_id, done)
    _delete_events(sessions, cutoff, done)
    with sessions(True) as session:  # sealed, but as good as a password until the site ends it
        expired = SessionState.expires_at <= (now or datetime.now(UTC))
        result = session.execute(delete(SessionState).where(expired))
        done.expired_sign_ins = int(getattr(result, "rowcount", 0) or 0)
    _remove_orphans(sessions, storage_root, cutoff, done)
    log.info(
        "retention: %d runs (%d results, %d attempts), %d events and %d files older than %s "
        "deleted, %.1f MiB freed; %d old runs kept for a pending healing review; "
        "%d expired sign-ins dropped",
        done.runs,
        done.results,
        done.attempts,
        done.events,
        done.files,
        cutoff.date().isoformat(),
        done.file_bytes / 2**20,
        done.kept_pending_review,
        done.expired_sign_ins,
    )
    return done


def _run_batches(sessions: Sessions, cutoff: datetime, done: Retained) -> Iterator[list[str]]:
    """Delete old ended runs a batch per transaction; yield each deleted batch's ids."""
    pending = exists().where(HealingProposal.run_id == Run.id, HealingProposal.status == "pending")
    old = (Run.created_at < cutoff) & Run.status.in_(FINAL_STATUSES)
    with sessions(False) as session:
        done.kept_pending_review = len(session.scalars(select(Run.id).where(old & pending)).all())
    while True:
        with sessions(True) as session:
            ids = list(session.scalars(select(Run.id).where(old & ~pending).limit(BATCH)))
            if not ids:
                return
            done.results += _count_delete(session, TestResultRow, TestResultRow.run_id, ids)
            done.attempts += _count_delete(session, AttemptRow, AttemptRow.run_id, ids)
            _count_delete(session, TestCase, TestCase.run_id, ids)
            _count_delete(session, HealingProposal, HealingProposal.run_id, ids)
            done.runs += _count_delete(session, Run, Run.id, ids)
        yield ids


def _count_delete(session: Session, model: Any, column: Any, ids: list[str] | list[int]) -> int:
    """Rows deleted; explicit rather than left to the cascade, so every database counts them."""
    result = session.execute(
        delete(model).where(column.in_(ids)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _delete_events(sessions: Sessions, cutoff: datetime, done: Retained) -> None:
    """Old events of no run, or of a run that is gone; a run kept keeps its history."""
    kept_run = exists().where(Run.id == Event.run_id)
    old = (Event.created_at < cutoff) & (Event.run_id.is_(None) | ~kept_run)
    while True:
        with sessions(True) as session:
            ids = list(session.scalars(select(Event.id).where(old).limit(BATCH * 10)))
            if not ids:
                return
            done.events += _count_delete(session, Event, Event.id, ids)


def _remove_run_files(storage_root: Path, run_id: str, done: Retained) -> None:
    for folder in RUN_FOLDERS:
        path = storage_root / folder / run_id
        if _is_run_folder(storage_root / folder, path):
            _remove_tree(path, done)


def _remove_orphans(
    sessions: Sessions, storage_root: Path, cutoff: datetime, done: Retained
) -> None:
    """Run folders older than the cutoff whose run is gone (a pass stopped half way)."""
    stamp = cutoff.timestamp()
    for folder in RUN_FOLDERS:
        parent = storage_root / folder
        candidates = [p for p in _children(parent) if _newest_mtime(p) < stamp]
        if not candidates:
            continue
        with sessions(False) as session:
            known = set(
                session.scalars(select(Run.id).where(Run.id.in_([p.name for p in candidates])))
            )
        for path in candidates:
            if path.name not in known and _is_run_folder(parent, path):
                _remove_tree(path, done)


def _children(parent: Path) -> Iterable[Path]:
    try:
        return [p for p in parent.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _is_run_folder(parent: Path, path: Path) -> bool:
    """A real folder right under ``parent`` (never a link out of it, never ``parent`` itself)."""
    return (
        path.is_dir()
        and not path.is_symlink()
        and path.parent.resolve() == parent.resolve()
        and path.name not in ("", ".", "..")
    )


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for item in path.rglob("*"):
        try:
            newest = max(newest, item.lstat().st_mtime)
        except OSError:
            continue
    return newest


def _remove_tree(path: Path, done: Retained) -> None:
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                done.files += 1
                done.file_bytes += item.lstat().st_size
        except OSError:
            continue
    shutil.rmtree(path, ignore_errors=True)
