"""The schedule's jobs in the database: claimed once per interval, whoever sends them.

Celery beat sends each job on its interval. Two beats (a second one started by
mistake, or two during a rolling update), or ``matf serve`` in several
processes, would each send it: the job's task runs only after claiming its
row in one conditional UPDATE, which at most one caller wins per interval, in
SQLite and in PostgreSQL alike. The row also says what the API shows: last
run, outcome, next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from matf.storage.models import ScheduledJob

# A send within this share of the interval after the last start is a double.
EARLY = 0.9
BACKUP = "backup"  # the backup job's row also keeps the newest verified backup's moment and size
LAST_VERIFIED_AT, LAST_VERIFIED_BYTES = "last_verified_at", "last_verified_bytes"


@dataclass(frozen=True)
class Claim:
    """A job's run, taken: ``holder`` finishes it."""

    name: str
    holder: str
    started_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def ensure(session: Session, name: str, interval_s: float) -> None:
    """The job's row exists with this interval (a changed setting updates it)."""
    row = session.get(ScheduledJob, name)
    if row is None:
        try:
            with session.begin_nested():
                session.add(ScheduledJob(name=name, interval_s=interval_s, runs=0, skipped=0))
        except IntegrityError:  # another process made it first
            pass
    elif row.interval_s != interval_s:
        row.interval_s = interval_s


def claim(
    session: Session,
    name: str,
    interval_s: float,
    holder: str,
    hold_s: float,
    now: datetime | None = None,
    force: bool = False,
) -> Claim | None:
    """Take this interval's run of the job; None when another holder has it or ran it.

    The claim holds ``hold_s`` (the job's time limit): a holder that dies
    leaves it to the next send after that. ``force`` (a run asked for by a
    person, ``POST /api/v1/optimizer/run``) takes it even if the job ran within
    this interval, but never while another holder has it: two runs of a job
    never overlap.
    """
    now = now or _now()
    ensure(session, name, interval_s)
    query = update(ScheduledJob).where(ScheduledJob.name == name)
    if not force:
        query = query.where(
            or_(
                ScheduledJob.last_started_at.is_(None),
                ScheduledJob.last_started_at <= now - timedelta(seconds=interval_s * EARLY),
            )
        )
    won = session.execute(
        query.where(or_(ScheduledJob.held_until.is_(None), ScheduledJob.held_until < now))
        .values(
            last_started_at=now,
            holder=holder,
            held_until=now + timedelta(seconds=hold_s),
            interval_s=interval_s,
            runs=ScheduledJob.runs + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    if won != 1:
        session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.name == name)
            .values(skipped=ScheduledJob.skipped + 1)
            .execution_options(synchronize_session=False)
        )
        return None
    return Claim(name=name, holder=holder, started_at=now)


def finish(
    session: Session,
    taken: Claim,
    outcome: str,
    detail: dict[str, Any],
    counts: dict[str, int | float] | None = None,
) -> None:
    """Record how the claimed run ended, add ``counts`` to the job's totals, let the claim go.

    A holder whose claim ran out and was taken by another records nothing: the
    newer run's record is the one that stands.
    """
    row = session.get(ScheduledJob, taken.name, with_for_update=True)
    if row is None or row.holder != taken.holder:
        return
    totals = dict(row.totals or {})
    totals[outcome] = totals.get(outcome, 0) + 1
    for key, value in (counts or {}).items():
        totals[key] = totals.get(key, 0) + value
    ended = _now()
    if outcome == "ok":
        totals["last_ok_at"] = ended.timestamp()  # a moment, not a count: replaced
    row.last_finished_at = ended
    row.last_outcome = outcome
    row.last_detail = detail
    row.totals = totals
    row.held_until = None


def jobs(session: Session) -> dict[str, ScheduledJob]:
    """Every job's row, by name."""
    return {row.name: row for row in session.scalars(select(ScheduledJob))}


def record_verified_backup(
    session: Session, interval_s: float, taken_at: datetime, size: int
) -> None:
    """Note a backup that passed verification on the backup job's row, for the metrics.

    The schedule's backups and ``matf backup create`` (a CronJob's) both call
    this, so the age and size of the newest verified backup are known whoever
    took it. Kept in the row's totals as moments (replaced, not added up); an
    older backup noted late does not replace a newer one.
    """
    ensure(session, BACKUP, interval_s)
    row = session.get(ScheduledJob, BACKUP, with_for_update=True)
    if row is None:
        return
    totals = dict(row.totals or {})
    if taken_at.timestamp() < float(totals.get(LAST_VERIFIED_AT) or 0):
        return
    totals[LAST_VERIFIED_AT] = taken_at.timestamp()
    totals[LAST_VERIFIED_BYTES] = size
    row.totals = totals
