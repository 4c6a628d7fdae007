"""Test optimizer agent: learn from history which tests are flaky.

Its scheduled work (slow tests, failure clusters, run order, quarantine) comes
later; what is here reads the attempt history every run leaves behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from matf.storage.models import AttemptRow, Run


@dataclass(frozen=True)
class Flakiness:
    case_id: str
    browser: str
    runs: int
    flaky_runs: int

    @property
    def rate(self) -> float:
        return self.flaky_runs / self.runs if self.runs else 0.0


def flaky_tests(session: Session, days: int = 30, min_rate: float = 0.0) -> list[Flakiness]:
    """Tests that failed an attempt and then passed, per (case, browser), worst first."""
    since = datetime.now(UTC) - timedelta(days=days)
    per_run = (
        select(
            AttemptRow.case_id,
            AttemptRow.browser,
            AttemptRow.run_id,
            func.max(case((AttemptRow.passed, 1), else_=0)).label("passed"),
            func.min(case((AttemptRow.passed, 1), else_=0)).label("all_passed"),
        )
        .join(Run, Run.id == AttemptRow.run_id)
        .where(Run.created_at >= since)
        .group_by(AttemptRow.case_id, AttemptRow.browser, AttemptRow.run_id)
        .subquery()
    )
    rows = session.execute(
        select(
            per_run.c.case_id,
            per_run.c.browser,
            func.count(),
            func.sum(case(((per_run.c.passed == 1) & (per_run.c.all_passed == 0), 1), else_=0)),
        ).group_by(per_run.c.case_id, per_run.c.browser)
    ).all()
    found = [Flakiness(c, b, int(n), int(f or 0)) for c, b, n, f in rows]
    return sorted(
        (f for f in found if f.flaky_runs and f.rate >= min_rate),
        key=lambda f: (-f.rate, f.case_id),
    )
