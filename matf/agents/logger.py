"""Logger agent: structured events from every agent, persisted once each.

Events are small JSON documents. Their key makes persistence idempotent: an
executor task delivered twice announces its test twice, and is stored once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from matf.results import TestResult
from matf.storage.runs import record_event

KINDS = (
    "run_started",
    "signed_in",  # a role's session for the run: reused from the cache, or signed in now
    "phase",
    "test_started",
    "test_finished",
    "test_requeued",
    "run_finished",
    "run_failed",
    "job_finished",  # a scheduled job's run (tasks/schedule.py), of no run
)


def make_event(
    kind: str, agent: str, run_id: str | None, key: str | None = None, **payload: Any
) -> dict[str, Any]:
    """An event ready to travel: a key (stable when given), a time, a payload."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return {
        "key": key or f"{kind}:{uuid.uuid4().hex}",
        "kind": kind,
        "agent": agent,
        "run_id": run_id,
        "at": datetime.now(UTC).isoformat(),
        "payload": payload,
    }


def event_key(kind: str, run_id: str, case_id: str, browser: str) -> str:
    return f"{kind}:{run_id}:{case_id}:{browser}"


def finished_event(result: TestResult) -> dict[str, Any]:
    """The ``test_finished`` event of a result, keyed as its executor announces it."""
    return make_event(
        "test_finished",
        agent="executor",
        run_id=result.run_id,
        key=event_key("test_finished", result.run_id, result.case_id, result.browser),
        case_id=result.case_id,
        name=result.name,
        browser=result.browser,
        status=result.status,
        duration_ms=result.duration_ms,
        worker=result.worker,
    )


def persist(session: Session, event: dict[str, Any]) -> int | None:
    """Store one event; its id, or None when it was stored before."""
    return record_event(
        session,
        key=str(event["key"])[:200],
        kind=str(event["kind"]),
        agent=str(event["agent"]),
        run_id=event.get("run_id"),
        payload=dict(event.get("payload") or {}),
        at=datetime.fromisoformat(event["at"]) if event.get("at") else None,
    )
