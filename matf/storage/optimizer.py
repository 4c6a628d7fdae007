"""The optimizer's stored analyses and quarantine proposals, reviewed like healing proposals.

A proposal is never applied on its own. Accepting one quarantines the test in
its saved suite (``SuiteCase.quarantined``): later runs still run it and
report it, but its failure no longer fails the run. Rejecting one keeps the
test counting.

Re-analysis keeps one pending proposal per test (suite, case, browser): it
updates that proposal's score instead of adding another, and withdraws it
when the score falls clearly below the threshold (``WITHDRAW_MARGIN``). A
decided proposal (rejected, or accepted and since lifted by hand) is not
proposed again unless the score rises by at least ``REPROPOSE_MARGIN`` above
the score it was decided at. Only tests of saved suites are proposed: there is
nowhere else to record a quarantine.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matf.errors import Conflict, NotFound, UsageError
from matf.storage.models import OptimizerAnalysis, QuarantineProposal, SuiteCase
from matf.storage.suites import update_case

STATUSES = ("pending", "accepted", "rejected", "withdrawn")
REPROPOSE_MARGIN = 0.1
WITHDRAW_MARGIN = 0.1


@dataclass(frozen=True)
class Candidate:
    """A test the analysis scored at or above the threshold (or, in ``scores``, any test)."""

    suite_id: str
    case_id: str
    browser: str
    score: float
    runs: int
    reason: str

    @property
    def key(self) -> str:
        return pending_key(self.suite_id, self.case_id, self.browser)


def pending_key(suite_id: str | None, case_id: str, browser: str) -> str:
    return f"{suite_id or '-'}|{case_id}|{browser}"


def save_analysis(
    session: Session,
    *,
    days: int,
    threshold: float,
    seconds: float,
    summary: dict[str, Any],
    findings: dict[str, Any],
    orders: dict[str, Any],
    created_at: datetime | None = None,
) -> OptimizerAnalysis:
    row = OptimizerAnalysis(
        created_at=created_at or datetime.now(UTC),
        days=days,
        threshold=threshold,
        seconds=seconds,
        summary=summary,
        findings=findings,
        orders=orders,
    )
    session.add(row)
    session.flush()
    return row


def latest_analysis(session: Session) -> OptimizerAnalysis | None:
    return session.scalar(select(OptimizerAnalysis).order_by(OptimizerAnalysis.id.desc()).limit(1))


def get_analysis(session: Session, analysis_id: int) -> OptimizerAnalysis:
    row = session.get(OptimizerAnalysis, analysis_id)
    if row is None:
        raise NotFound(f"no optimizer analysis {analysis_id}")
    return row


def list_analyses(
    session: Session, limit: int = 50
) -> list[tuple[int, datetime, float, dict[str, Any]]]:
    """The newest analyses' ids, times, seconds and summaries (not their findings)."""
    rows = session.execute(
        select(
            OptimizerAnalysis.id,
            OptimizerAnalysis.created_at,
            OptimizerAnalysis.seconds,
            OptimizerAnalysis.summary,
        )
        .order_by(OptimizerAnalysis.id.desc())
        .limit(limit)
    ).all()
    return [(i, at, seconds, summary) for i, at, seconds, summary in rows]


def suite_order(session: Session, suite_id: str) -> list[str] | None:
    """The latest analysis's run order for a saved suite (case ids); None if it has none."""
    orders = session.scalar(
        select(OptimizerAnalysis.orders).order_by(OptimizerAnalysis.id.desc()).limit(1)
    )
    found = (orders or {}).get(suite_id)
    return list(found) if found else None


def sync_proposals(
    session: Session,
    candidates: Sequence[Candidate],
    scores: dict[str, float],
    threshold: float,
    analysis_id: int | None = None,
) -> dict[str, int]:
    """Bring the proposals in line with an analysis; counts of new, updated and withdrawn.

    ``candidates``: tests scored at or above ``threshold``; ``scores``: every
    analysed test's score by ``pending_key``, to update or withdraw pending
    proposals whose test fell below the threshold.
    """
    now = datetime.now(UTC)
    pending = {
        row.pending_key: row
        for row in session.scalars(
            select(QuarantineProposal).where(QuarantineProposal.status == "pending")
        )
    }
    counts = {"new": 0, "updated": 0, "withdrawn": 0}
    wanted = {c.key: c for c in candidates}
    for key, stale in pending.items():
        if key in wanted:
            continue
        score = scores.get(key or "")
        if score is None or score < threshold - WITHDRAW_MARGIN:
            _close(stale, "withdrawn", "optimizer", None, now)
            counts["withdrawn"] += 1
        elif score != stale.score:
            stale.score, stale.updated_at, stale.analysis_id = score, now, analysis_id
            counts["updated"] += 1
    fresh = [c for key, c in wanted.items() if key not in pending]
    blocked = _blocked(session, fresh)
    for key, candidate in wanted.items():
        row = pending.get(key)
        if row is not None:
            row.score, row.runs, row.reason = candidate.score, candidate.runs, candidate.reason
            row.updated_at, row.analysis_id = now, analysis_id
            counts["updated"] += 1
        elif key not in blocked:
            session.add(
                QuarantineProposal(
                    id=f"q-{secrets.token_hex(6)}",
                    case_id=candidate.case_id,
                    browser=candidate.browser,
                    suite_id=candidate.suite_id,
                    score=candidate.score,
                    runs=candidate.runs,
                    reason=candidate.reason,
                    status="pending",
                    pending_key=key,
                    analysis_id=analysis_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            counts["new"] += 1
    session.flush()
    return counts


def _blocked(session: Session, candidates: Sequence[Candidate]) -> set[str]:
    """Keys not to propose: quarantined already, or decided at a score not clearly below now."""
    if not candidates:
        return set()
    suites = {c.suite_id for c in candidates}
    quarantined = {
        (suite_id, case_id)
        for suite_id, case_id in session.execute(
            select(SuiteCase.suite_id, SuiteCase.case_id).where(
                SuiteCase.suite_id.in_(suites), SuiteCase.quarantined.is_(True)
            )
        )
    }
    decided: dict[str, float] = {}
    rows = session.execute(
        select(
            QuarantineProposal.suite_id,
            QuarantineProposal.case_id,
            QuarantineProposal.browser,
            QuarantineProposal.score,
        )
        .where(
            QuarantineProposal.suite_id.in_(suites),
            QuarantineProposal.status.in_(("accepted", "rejected")),
        )
        .order_by(QuarantineProposal.decided_at)
    )
    for suite_id, case_id, browser, score in rows:
        decided[pending_key(suite_id, case_id, browser)] = score  # the latest decision wins
    return {
        c.key
        for c in candidates
        if (c.suite_id, c.case_id) in quarantined
        or (c.key in decided and c.score < decided[c.key] + REPROPOSE_MARGIN)
    }


def list_proposals(
    session: Session, status: str | None = "pending", limit: int = 50, offset: int = 0
) -> tuple[list[QuarantineProposal], int]:
    """Proposals with ``status`` (None: all), highest score first; and how many in all."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"no proposal status {status!r}: one of {', '.join(STATUSES)}")
    query = select(QuarantineProposal)
    if status is not None:
        query = query.where(QuarantineProposal.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(
            QuarantineProposal.score.desc(),
            QuarantineProposal.created_at.desc(),
            QuarantineProposal.id,
        )
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_proposal(session: Session, proposal_id: str) -> QuarantineProposal:
    row = session.get(QuarantineProposal, proposal_id)
    if row is None:
        raise NotFound(f"no quarantine proposal {proposal_id!r}")
    return row


def decide(session: Session, proposal_id: str, accept: bool, by: str | None) -> QuarantineProposal:
    """Accept (quarantine the test in its saved suite) or reject a pending proposal.

    Accepting also closes the pending proposals for the same test in its other
    browsers: a quarantine covers the case, whatever the browser.
    """
    row = get_proposal(session, proposal_id)
    verb = "accept" if accept else "reject"
    if row.status != "pending":
        raise Conflict(f"cannot {verb} {row.id}: it is {row.status}, not pending")
    now = datetime.now(UTC)
    if not accept:
        return _close(row, "rejected", by, None, now)
    if row.suite_id is None:
        raise Conflict(f"cannot quarantine {row.id}: its runs came from no saved suite")
    try:
        update_case(session, row.suite_id, row.case_id, by, quarantined=True)
    except NotFound as exc:  # the suite, or the test in it, is gone: nothing to quarantine
        raise Conflict(f"cannot quarantine {row.id}: {exc.message}") from exc
    applied = f"suite {row.suite_id}"
    siblings = session.scalars(
        select(QuarantineProposal).where(
            QuarantineProposal.status == "pending",
            QuarantineProposal.suite_id == row.suite_id,
            QuarantineProposal.case_id == row.case_id,
            QuarantineProposal.id != row.id,
        )
    )
    for other in siblings:
        _close(other, "accepted", by, applied, now)
    return _close(row, "accepted", by, applied, now)


def _close(
    row: QuarantineProposal, status: str, by: str | None, applied_to: str | None, at: datetime
) -> QuarantineProposal:
    row.status, row.pending_key = status, None
    row.decided_by, row.decided_at, row.applied_to = by, at, applied_to
    return row


def as_dict(row: QuarantineProposal) -> dict[str, Any]:
    """A proposal as the API and ``matf optimize list --json`` show it."""
    return {
        "id": row.id,
        "suite_id": row.suite_id,
        "case_id": row.case_id,
        "browser": row.browser,
        "score": round(row.score, 4),
        "runs": row.runs,
        "reason": row.reason,
        "status": row.status,
        "applied_to": row.applied_to,
        "analysis_id": row.analysis_id,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decided_by": row.decided_by,
    }
