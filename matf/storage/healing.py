"""Healing proposals: stored from a run's results, accepted or rejected by a person.

A proposal is never applied on its own. Accepting one applies its locator
changes, and only those, to the test where it lives: the saved suite the run
came from, or (from the command line) the suite file it was run from. A test
edited since the proposal was made is not overwritten: the change must still
fit, step by step, or the decision is refused.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from matf.errors import Conflict, NotFound
from matf.results import LocatorChange, TestResult
from matf.spec import TARGETED, Locator, TestSpec, retarget, same_but_locators
from matf.storage.models import HealingProposal, Run
from matf.storage.suites import get_case, update_case

STATUSES = ("pending", "accepted", "rejected", "superseded")


def record_proposals(session: Session, run: Run, results: list[TestResult]) -> int:
    """Store one pending proposal per healed test of ``run``; idempotent. Returns how many."""
    known = set(
        session.scalars(
            select(HealingProposal.case_id).where(HealingProposal.run_id == run.id)
        ).all()
    )
    added = 0
    for result in results:
        healing = result.healing
        if healing is None or not healing.changes or healing.spec is None:
            continue
        if result.case_id in known:
            continue
        known.add(result.case_id)
        suite_file = run.options.suite_file
        _supersede(session, result.case_id, run.suite_id, suite_file)
        session.add(
            HealingProposal(
                id=f"h-{secrets.token_hex(6)}",
                run_id=run.id,
                case_id=result.case_id,
                browser=result.browser,
                suite_id=run.suite_id,
                suite_file=suite_file,
                outcome=healing.outcome,
                changes=[change.model_dump(mode="json") for change in healing.changes],
                spec=healing.spec,
                error=healing.error,
                calls=healing.calls,
                prompt_tokens=healing.prompt_tokens,
                completion_tokens=healing.completion_tokens,
                status="pending",
            )
        )
        added += 1
    session.flush()
    return added


def _supersede(
    session: Session, case_id: str, suite_id: str | None, suite_file: str | None
) -> None:
    """Older pending proposals for the same test give way to the newest one."""
    if suite_id is None and suite_file is None:
        return
    session.execute(
        update(HealingProposal)
        .where(
            HealingProposal.case_id == case_id,
            HealingProposal.status == "pending",
            _same_suite(suite_id, suite_file),
        )
        .values(status="superseded", decided_at=datetime.now(UTC))
    )


def _same_suite(suite_id: str | None, suite_file: str | None) -> ColumnElement[bool]:
    """Proposals for tests of the same suite: the saved one, else the same suite file."""
    if suite_id is not None:
        return HealingProposal.suite_id == suite_id
    return HealingProposal.suite_file == suite_file


def rejected_changes(
    session: Session, case_ids: list[str], suite_id: str | None, suite_file: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Per test of a suite, the locator changes a person rejected, not to be proposed again."""
    if (suite_id is None and suite_file is None) or not case_ids:
        return {}
    rows = session.execute(
        select(HealingProposal.case_id, HealingProposal.changes).where(
            HealingProposal.status == "rejected",
            HealingProposal.case_id.in_(case_ids),
            _same_suite(suite_id, suite_file),
        )
    ).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for case_id, changes in rows:
        known = found.setdefault(case_id, [])
        known += [change for change in changes if change not in known]
    return found


def list_proposals(
    session: Session,
    run_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[HealingProposal], int]:
    query = select(HealingProposal)
    if run_id is not None:
        query = query.where(HealingProposal.run_id == run_id)
    if status is not None:
        query = query.where(HealingProposal.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(HealingProposal.created_at.desc(), HealingProposal.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_proposal(session: Session, proposal_id: str) -> HealingProposal:
    row = session.get(HealingProposal, proposal_id)
    if row is None:
        raise NotFound(f"no healing proposal {proposal_id!r}")
    return row


def changes_of(row: HealingProposal) -> list[LocatorChange]:
    return [LocatorChange.model_validate(change) for change in row.changes]


def apply_changes(spec: TestSpec, changes: list[LocatorChange]) -> TestSpec:
    """``spec`` with each change's step retargeted; refused if a step no longer fits."""
    healed = spec
    for change in changes:
        where = f"test {spec.id!r} step {change.step + 1}"
        if change.step >= len(healed.steps):
            raise Conflict(f"{where} no longer exists: the test changed since the proposal")
        step = healed.steps[change.step]
        now = (
            step.target.model_dump(mode="json", exclude_none=True)
            if isinstance(step, TARGETED)
            else None
        )
        if step.action != change.action or now != change.before:
            raise Conflict(
                f"{where} is no longer the {change.action} the proposal heals: "
                "the test changed since"
            )
        healed = retarget(healed, change.step, Locator.model_validate(change.after))
    if not same_but_locators(spec, healed):  # retarget guarantees it; say so loudly if not
        raise Conflict(f"the proposal for {spec.id!r} would change more than locators")
    return healed


def accept(
    session: Session, proposal_id: str, by: str | None, applied_to: str | None = None
) -> HealingProposal:
    """Accept a pending proposal; apply it to the run's saved suite when there is one.

    ``applied_to`` names where the caller applied it itself (a suite file).
    """
    row = pending(session, proposal_id, "accept")
    if applied_to is None:
        if row.suite_id is None:
            where = f" (run from {row.suite_file}: accept it with the command line)"
            raise Conflict(
                f"cannot apply {row.id}: run {row.run_id}'s tests are in no saved suite"
                + (where if row.suite_file else "; 'matf heal show' prints the healed test")
            )
        try:
            case = get_case(session, row.suite_id, row.case_id)
        except NotFound as exc:  # the suite, or the test in it, is gone: nothing to apply to
            raise Conflict(f"cannot apply {row.id}: {exc.message}") from exc
        healed = apply_changes(TestSpec.model_validate(case.spec), changes_of(row))
        update_case(session, row.suite_id, row.case_id, by, spec=healed.model_dump(mode="json"))
        applied_to = f"suite {row.suite_id}"
    return _decide(row, "accepted", by, applied_to)


def reject(session: Session, proposal_id: str, by: str | None) -> HealingProposal:
    return _decide(pending(session, proposal_id, "reject"), "rejected", by, None)


def pending(session: Session, proposal_id: str, verb: str) -> HealingProposal:
    row = get_proposal(session, proposal_id)
    if row.status != "pending":
        raise Conflict(f"cannot {verb} {row.id}: it is {row.status}, not pending")
    return row


def _decide(
    row: HealingProposal, status: str, by: str | None, applied_to: str | None
) -> HealingProposal:
    row.status = status
    row.decided_by = by
    row.decided_at = datetime.now(UTC)
    row.applied_to = applied_to
    return row


def as_dict(row: HealingProposal) -> dict[str, Any]:
    """A proposal as the API and ``matf heal list --json`` show it."""
    return {
        "id": row.id,
        "run_id": row.run_id,
        "case_id": row.case_id,
        "browser": row.browser,
        "suite_id": row.suite_id,
        "suite_file": row.suite_file,
        "status": row.status,
        "outcome": row.outcome,
        "error": row.error,
        "changes": list(row.changes),
        "spec": row.spec,
        "calls": row.calls,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "applied_to": row.applied_to,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decided_by": row.decided_by,
    }
