"""Reading many runs at once: listing with filters, tallies, trends, targets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from matf.results import FINAL_STATUSES, STATUSES
from matf.storage.models import Run, Target, TestResultRow


def list_runs(
    session: Session,
    statuses: Sequence[str] | None = None,
    target: str | None = None,
    suite_id: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Run], int]:
    """Runs, newest first, and how many match in all."""
    query = select(Run)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    if target:
        escaped = target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Run.target.like(f"%{escaped}%", escape="\\"))
    if suite_id:
        query = query.where(Run.suite_id == suite_id)
    if since is not None:
        query = query.where(Run.created_at >= since)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def result_counts(session: Session, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per run: total and each status, from the stored results (one grouped query)."""
    out: dict[str, dict[str, int]] = {
        run_id: {"total": 0, **dict.fromkeys(STATUSES, 0)} for run_id in run_ids
    }
    if not run_ids:
        return out
    rows = session.execute(
        select(TestResultRow.run_id, TestResultRow.status, func.count())
        .where(TestResultRow.run_id.in_(run_ids))
        .group_by(TestResultRow.run_id, TestResultRow.status)
    ).all()
    for run_id, status, count in rows:
        tally = out[run_id]
        tally[status] = tally.get(status, 0) + count
        tally["total"] += count
    return out


def ended_runs(session: Session, target: str | None, limit: int) -> list[Run]:
    """The last ``limit`` ended runs (of ``target``, when given), oldest first."""
    query = select(Run).where(Run.status.in_(FINAL_STATUSES))
    if target:
        query = query.where(Run.target == target)
    return list(reversed(session.scalars(query.order_by(Run.created_at.desc()).limit(limit)).all()))


def trend(session: Session, target: str | None, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` ended runs, oldest first: pass rate, duration, flaky count."""
    runs = ended_runs(session, target, limit)
    tallies = result_counts(session, [run.id for run in runs])
    points = []
    for run in runs:
        tally = tallies[run.id]
        rate = pass_rate(tally)
        points.append(
            {
                "run": run,
                "pass_rate": None if rate is None else round(rate, 4),
                "flaky": tally["flaky"],
                "total": tally["total"],
            }
        )
    return points


def pass_rate(tally: dict[str, int]) -> float | None:
    """Passed and flaky among the tests that ran (skipped ones did not); None if none ran."""
    counted = tally.get("total", 0) - tally.get("skipped", 0)
    if not counted:
        return None
    return (tally.get("passed", 0) + tally.get("flaky", 0)) / counted


def run_duration(run: Run) -> float | None:
    """Seconds from start (or creation) to end, rounded to ms; None while it runs."""
    start, end = run.started_at or run.created_at, run.finished_at
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0), 3)


def list_targets(session: Session) -> list[tuple[Target, int]]:
    """Every known target with how many runs were made of it."""
    targets = session.scalars(select(Target).order_by(Target.checked_at.desc())).all()
    out = []
    for target in targets:
        runs = session.scalar(
            select(func.count())
            .select_from(Run)
            .where(or_(Run.target == target.origin, Run.target.like(f"{target.origin}/%")))
        )
        out.append((target, runs or 0))
    return out


def performance_history(
    session: Session, target: str | None, limit: int, page: str | None = None
) -> list[dict[str, Any]]:
    """Every page load measured in the last ``limit`` ended runs, oldest run first.

    One point per (run, browser, page): the metrics a performance check stored
    with its result, so trends per page can be drawn.
    """
    runs = ended_runs(session, target, limit)
    if not runs:
        return []
    order = {run.id: i for i, run in enumerate(runs)}
    finished = {run.id: run.finished_at for run in runs}
    rows = session.scalars(
        select(TestResultRow)
        .where(TestResultRow.run_id.in_(list(order)))
        .order_by(TestResultRow.id)
    ).all()
    points: list[dict[str, Any]] = []
    for row in rows:
        for metrics in row.data.get("performance") or []:
            if page is not None and metrics.get("url") != page:
                continue
            points.append(
                {
                    "run_id": row.run_id,
                    "finished_at": finished[row.run_id],
                    "case_id": row.case_id,
                    "browser": row.browser,
                    **metrics,
                }
            )
    points.sort(key=lambda p: (order[p["run_id"]], p["url"], p["browser"]))
    return points
