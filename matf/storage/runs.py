"""Reading and writing runs, their cases, results and events.

Every write here is idempotent: a re-delivered task writes nothing twice.
Functions take the session the caller opened at its boundary.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matf.errors import RunNotFound
from matf.options import RunOptions
from matf.results import STATUSES, RunStatus, TestResult
from matf.spec import TestSpec
from matf.storage.models import AttemptRow, Event, Run, TestCase, TestResultRow


def new_run_id() -> str:
    return f"r-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def create_run(session: Session, target: str, options: RunOptions) -> Run:
    run = Run(
        id=new_run_id(), target=target, status=RunStatus.QUEUED, phase="queued", options=options
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(f"no run {run_id!r}")
    return run


def set_phase(session: Session, run_id: str, phase: str) -> None:
    run = get_run(session, run_id)
    if run.status.final:
        return
    run.phase = phase
    run.status = RunStatus.RUNNING
    if run.started_at is None:
        run.started_at = datetime.now(UTC)


def fail_run(session: Session, run_id: str, reason: str) -> None:
    """Mark a run as errored with its reason, unless it already ended."""
    run = session.get(Run, run_id)
    if run is None or run.status.final:
        return
    run.status, run.phase, run.error = RunStatus.ERROR, "done", reason[:4000]
    run.finished_at = datetime.now(UTC)


def save_cases(session: Session, run_id: str, specs: list[TestSpec]) -> int:
    """Store the run's specs once; a second call with the same run keeps the first."""
    existing = set(session.scalars(select(TestCase.case_id).where(TestCase.run_id == run_id)))
    for position, spec in enumerate(specs):
        if spec.id not in existing:
            session.add(
                TestCase(
                    run_id=run_id,
                    case_id=spec.id,
                    position=position,
                    spec=spec.model_dump(mode="json", exclude_defaults=False),
                )
            )
    run = get_run(session, run_id)
    run.total = len(specs) * len(run.options.browsers)
    return len(specs)


def load_specs(session: Session, run_id: str) -> list[TestSpec]:
    rows = session.scalars(
        select(TestCase).where(TestCase.run_id == run_id).order_by(TestCase.position)
    )
    return [TestSpec.model_validate(row.spec) for row in rows]


def record_results(session: Session, results: list[TestResult]) -> int:
    """Store final results and their attempts; already stored keys are left alone."""
    written = 0
    for result in results:
        exists = session.scalar(
            select(TestResultRow.id).where(
                TestResultRow.run_id == result.run_id,
                TestResultRow.case_id == result.case_id,
                TestResultRow.browser == result.browser,
            )
        )
        if exists is not None:
            continue
        session.add(
            TestResultRow(
                run_id=result.run_id,
                case_id=result.case_id,
                browser=result.browser,
                status=result.status,
                duration_ms=result.duration_ms,
                attempts=result.attempts,
                error=result.error,
                data=result.model_dump(mode="json"),
            )
        )
        errors = [*result.attempt_errors, result.error]
        for number in range(1, result.attempts + 1):
            passed = number == result.attempts and result.status in ("passed", "flaky")
            session.add(
                AttemptRow(
                    run_id=result.run_id,
                    case_id=result.case_id,
                    browser=result.browser,
                    attempt=number,
                    passed=passed,
                    error=None if passed else errors[number - 1],
                )
            )
        written += 1
    session.flush()
    return written


def stored_results(session: Session, run_id: str) -> list[TestResult]:
    rows = session.scalars(
        select(TestResultRow).where(TestResultRow.run_id == run_id).order_by(TestResultRow.id)
    )
    return [TestResult.model_validate(row.data) for row in rows]


def counts(results: Sequence[TestResult]) -> dict[str, int]:
    tally = Counter(r.status for r in results)
    return {"total": len(results), **{status: tally.get(status, 0) for status in STATUSES}}


def finish_run(session: Session, run_id: str, status: RunStatus, finished_at: datetime) -> Run:
    """End a run with its verdict; a run that already ended keeps its first verdict."""
    run = get_run(session, run_id)
    if not run.status.final:
        run.status, run.phase, run.finished_at = RunStatus(status), "done", finished_at
    return run


def record_event(
    session: Session,
    key: str,
    kind: str,
    agent: str,
    run_id: str | None,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> int | None:
    """Persist one event; its id, or None when its key was seen before (a re-delivery)."""
    if session.scalar(select(Event.id).where(Event.key == key)) is not None:
        return None  # a re-delivery: the unique key would refuse it anyway
    event = Event(
        key=key,
        kind=kind,
        agent=agent,
        run_id=run_id,
        payload=payload,
        created_at=at or datetime.now(UTC),
    )
    session.add(event)
    session.flush()
    return event.id


def progress(session: Session, run_id: str) -> dict[str, Any]:
    """Where a run stands: its status and phase, tests done and failing so far."""
    run = get_run(session, run_id)
    status = Event.payload["status"].as_string().label("status")
    finished: dict[str, int] = dict(
        session.execute(
            select(status, func.count())
            .where(Event.run_id == run_id, Event.kind == "test_finished")
            .group_by(status)  # by the label: PostgreSQL would see two expressions otherwise
        ).all()
    )
    done = sum(finished.values())
    return {
        "status": run.status.value,
        "phase": run.phase,
        "total": run.total,
        "done": done,
        "failed": finished.get("failed", 0) + finished.get("error", 0),
        "error": run.error,
    }


def record_llm_usage(session: Session, run_id: str, usage: dict[str, Any]) -> None:
    """What the AI writer spent and made for a run, shown in its reports."""
    get_run(session, run_id).llm_usage = usage


def record_exploration(session: Session, run_id: str, summary: dict[str, Any]) -> None:
    """What exploring the site did for a run (``reports.document.Exploration`` as JSON)."""
    get_run(session, run_id).exploration = summary


def record_healing_usage(session: Session, run_id: str, usage: dict[str, Any]) -> None:
    """What the run's healers asked of the model, next to the writer's usage."""
    get_run(session, run_id).healing_usage = usage
