"""Test optimizer task: what history says about flaky tests."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from matf.agents.optimizer import flaky_tests
from matf.storage.db import session_scope
from tasks.base import MatfTask
from tasks.schedule import BY_NAME, run_job


@shared_task(bind=True, base=MatfTask, name="matf.optimizer.flaky")
def flaky(self: MatfTask, days: int = 30, min_rate: float = 0.0) -> list[dict[str, Any]]:
    with session_scope(self.engine) as session:
        found = flaky_tests(session, days=days, min_rate=min_rate)
    return [
        {
            "case_id": f.case_id,
            "browser": f.browser,
            "runs": f.runs,
            "flaky_runs": f.flaky_runs,
            "rate": round(f.rate, 3),
        }
        for f in found
    ]


@shared_task(
    bind=True,
    base=MatfTask,
    name="matf.optimizer.analyse",
    soft_time_limit=BY_NAME["optimizer"].time_limit_s - 30,
    time_limit=BY_NAME["optimizer"].time_limit_s,
)
def analyse(self: MatfTask, force: bool = False) -> dict[str, Any]:
    """The scheduled analysis of the last HISTORICAL_DATA_DAYS: stored, proposals updated.

    ``force``: a run asked for now (the API's ``POST /optimizer/run``), not held back by
    the interval; a run in progress still holds it back.
    """
    from matf.agents.optimizer import scheduled_analysis

    def body() -> tuple[dict[str, Any], dict[str, int | float]]:
        detail = scheduled_analysis(self.engine, self.settings)
        return detail, {"analyses": 1, "proposals_new": int(detail.get("proposals_new") or 0)}

    return run_job(self, "optimizer", body, force=force)
