"""Saved suites: the tests users own, edit, disable, quarantine and run again.

A suite is made from a run's written specs, or imported from a suite file.
Editing a case validates the new spec against the same strict schema the
writer's specs meet, so a saved suite always holds runnable data. Disabled
cases do not run; quarantined cases run and are reported, but do not fail
the run (a known-flaky test should not block a release while it is fixed).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matf.errors import NotFound, SpecError, UsageError
from matf.spec import TestSpec
from matf.storage.models import Suite, SuiteCase, TestCase
from matf.storage.runs import get_run


def new_suite_id() -> str:
    return f"s-{secrets.token_hex(6)}"


def create_suite(
    session: Session, name: str, target: str, specs: list[TestSpec], created_by: str | None
) -> Suite:
    name = name.strip()
    if not name or len(name) > 200:
        raise UsageError("a suite needs a name of 1 to 200 characters")
    if len({spec.id for spec in specs}) != len(specs):
        raise SpecError("test ids must be unique within a suite")
    suite = Suite(id=new_suite_id(), name=name, target=target, created_by=created_by)
    session.add(suite)
    session.flush()
    for position, spec in enumerate(specs):
        session.add(
            SuiteCase(
                suite_id=suite.id,
                case_id=spec.id,
                position=position,
                spec=spec.model_dump(mode="json"),
                updated_by=created_by,
            )
        )
    session.flush()
    return suite


def suite_from_run(
    session: Session, run_id: str, name: str | None, created_by: str | None
) -> Suite:
    """Save the specs a run was given or wrote, so they can be edited and run again."""
    run = get_run(session, run_id)
    rows = session.scalars(
        select(TestCase).where(TestCase.run_id == run_id).order_by(TestCase.position)
    ).all()
    if not rows:
        raise UsageError(f"run {run_id} has no test cases to save (yet)")
    specs = [TestSpec.model_validate(row.spec) for row in rows]
    return create_suite(session, name or f"Suite of {run.target}", run.target, specs, created_by)


def get_suite(session: Session, suite_id: str) -> Suite:
    suite = session.get(Suite, suite_id)
    if suite is None:
        raise NotFound(f"no suite {suite_id!r}")
    return suite


def list_suites(session: Session, limit: int, offset: int) -> tuple[list[Suite], int]:
    total = session.scalar(select(func.count()).select_from(Suite)) or 0
    rows = session.scalars(
        select(Suite).order_by(Suite.created_at.desc(), Suite.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def case_counts(session: Session, suite_ids: list[str]) -> dict[str, int]:
    if not suite_ids:
        return {}
    rows = session.execute(
        select(SuiteCase.suite_id, func.count())
        .where(SuiteCase.suite_id.in_(suite_ids))
        .group_by(SuiteCase.suite_id)
    ).all()
    return {suite_id: count for suite_id, count in rows}


def suite_cases(session: Session, suite_id: str) -> list[SuiteCase]:
    get_suite(session, suite_id)
    return list(
        session.scalars(
            select(SuiteCase).where(SuiteCase.suite_id == suite_id).order_by(SuiteCase.position)
        ).all()
    )


def get_case(session: Session, suite_id: str, case_id: str) -> SuiteCase:
    row = session.scalar(
        select(SuiteCase).where(SuiteCase.suite_id == suite_id, SuiteCase.case_id == case_id)
    )
    if row is None:
        get_suite(session, suite_id)
        raise NotFound(f"no test {case_id!r} in suite {suite_id}")
    return row


def update_case(
    session: Session,
    suite_id: str,
    case_id: str,
    updated_by: str | None,
    spec: dict[str, Any] | None = None,
    enabled: bool | None = None,
    quarantined: bool | None = None,
) -> SuiteCase:
    """Change a case: its spec (validated, same id), whether it runs, whether it counts."""
    row = get_case(session, suite_id, case_id)
    if spec is not None:
        checked = validate_spec(spec)
        if checked.id != case_id:
            raise SpecError(f"the spec's id is {checked.id!r}; it must stay {case_id!r}")
        row.spec = checked.model_dump(mode="json")
    if enabled is not None:
        row.enabled = enabled
    if quarantined is not None:
        row.quarantined = quarantined
    row.updated_by = updated_by
    row.updated_at = datetime.now(UTC)
    get_suite(session, suite_id).updated_at = row.updated_at
    return row


def validate_spec(spec: dict[str, Any]) -> TestSpec:
    try:
        return TestSpec.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "spec"
        raise SpecError(f"invalid spec at {where}: {err['msg']}") from exc


@dataclass(frozen=True)
class SuitePlan:
    """What a run of a saved suite executes, and which of its cases do not count."""

    target: str
    specs: list[TestSpec]
    quarantined: list[str]


def plan_suite(session: Session, suite_id: str, types: list[str] | None) -> SuitePlan:
    suite = get_suite(session, suite_id)
    specs: list[TestSpec] = []
    quarantined: list[str] = []
    for row in suite_cases(session, suite_id):
        spec = TestSpec.model_validate(row.spec)
        if not row.enabled or (types and spec.kind not in types):
            continue
        specs.append(spec)
        if row.quarantined:
            quarantined.append(spec.id)
    if not specs:
        raise UsageError(f"suite {suite_id} has no enabled tests of the requested types")
    return SuitePlan(suite.target, specs, quarantined)
