"""A run's results a page at a time, for readers that must not load 10,000 at once.

The API pages by cursor (the row id: results are written once and never move,
so a page boundary is stable while a run is still adding results); the
dashboard pages its problems by offset in the order people read them, failures
first. Filters are SQL on indexed columns, not Python over every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from matf.results import TestResult
from matf.storage.models import TestResultRow

# Failures first: what a reader of a run's page came for.
PROBLEM_ORDER = ("failed", "error", "flaky", "skipped")


def results_after(
    session: Session,
    run_id: str,
    after: int,
    limit: int,
    statuses: Sequence[str] | None = None,
    browser: str | None = None,
) -> tuple[list[TestResult], int | None]:
    """Up to ``limit`` results with a row id above ``after``, in row order; the next cursor.

    The cursor is None on the last page. One row more than asked is read to
    know whether a next page exists, so an exact multiple ends with no empty page.
    """
    query = select(TestResultRow.id, TestResultRow.data).where(
        TestResultRow.run_id == run_id, TestResultRow.id > after
    )
    if statuses:
        query = query.where(TestResultRow.status.in_(statuses))
    if browser:
        query = query.where(TestResultRow.browser == browser)
    rows = session.execute(query.order_by(TestResultRow.id).limit(limit + 1)).all()
    page = rows[:limit]
    cursor = page[-1].id if len(rows) > limit else None
    return [TestResult.model_validate(row.data) for row in page], cursor


def stored_documents(session: Session, run_id: str) -> list[dict[str, Any]]:
    """Every result of a run as its stored JSON, unvalidated: the reporter validates it once.

    Reading only the JSON column skips the ORM's per-row objects, which at
    10,000 results cost more than the query.
    """
    query = select(TestResultRow.data).where(TestResultRow.run_id == run_id)
    return list(session.scalars(query.order_by(TestResultRow.id)))


def problems_page(session: Session, run_id: str, offset: int, limit: int) -> list[TestResult]:
    """Results that did not simply pass, failures first, then by case and browser."""
    rank = case({status: i for i, status in enumerate(PROBLEM_ORDER)}, value=TestResultRow.status)
    rows = session.scalars(
        select(TestResultRow.data)
        .where(TestResultRow.run_id == run_id, TestResultRow.status != "passed")
        .order_by(rank, TestResultRow.case_id, TestResultRow.browser)
        .offset(offset)
        .limit(limit)
    )
    return [TestResult.model_validate(data) for data in rows]


def passed_page(session: Session, run_id: str, offset: int, limit: int) -> list[TestResult]:
    """Passed results by case and browser: a name list, read a page at a time."""
    rows = session.scalars(
        select(TestResultRow.data)
        .where(TestResultRow.run_id == run_id, TestResultRow.status == "passed")
        .order_by(TestResultRow.case_id, TestResultRow.browser)
        .offset(offset)
        .limit(limit)
    )
    return [TestResult.model_validate(data) for data in rows]
