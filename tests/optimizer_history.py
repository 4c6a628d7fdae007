"""A small optimizer history for the API, dashboard and metrics tests, analysed for real.

One saved suite of five tests over 14 runs: ``slow`` (ten seconds, first in
file order) always passes, ``coin`` fails every other run (a coin toss:
quarantine proposed), ``wobbly`` twice (flaky, under the threshold), ``cart``
and ``checkout`` fail together behind one request (a cluster with a shared
cause, both proposed). A test name can carry markup, to
show that the pages treat it as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from matf.agents.optimizer import scheduled_analysis
from matf.options import RunOptions
from matf.results import FailedRequest, StepResult, TestResult
from matf.settings import Settings
from matf.spec import TestSpec
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Run, TestResultRow
from matf.storage.suites import create_suite

TARGET = "http://shop.test/"
HISTORY = {  # in file order: the slow test first, so the proposed order saves time
    "slow": "PPPPPPPPPPPPPP",
    "coin": "PFPFPFPFPFPFPF",
    "wobbly": "PPPPPPFPPPPPFP",
    "cart": "PPPFPPPFPPFPPF",
    "checkout": "PPPFPPPFPPFPPF",
}


def _spec(case_id: str) -> TestSpec:
    return TestSpec.model_validate(
        {
            "id": case_id,
            "name": case_id,
            "url": TARGET,
            "steps": [{"action": "goto", "url": "/"}],
        }
    )


def _failed(case_id: str, run_id: str, run: int, cause: str | None) -> dict[str, Any]:
    clustered = case_id in ("cart", "checkout")
    action = "expect_no_server_errors" if clustered and cause is None else "expect_text"
    error = cause if clustered and cause else "nope"
    step = StepResult(index=0, action=action, description=action, status="failed", error=error)
    requests = [FailedRequest(url=f"{TARGET}api/cart/{run * 13}", status=500)] if clustered else []
    return TestResult(
        run_id=run_id,
        case_id=case_id,
        name=case_id,
        kind="functional",
        category="custom",
        browser="chromium",
        status="failed",
        url=f"{TARGET}{case_id}",
        error="nope",
        steps=[step],
        failed_requests=requests,
    ).model_dump(mode="json")


def seed_history(settings: Settings, cause: str | None = None) -> str:
    """The suite and its 14 runs, ending a minute ago; returns the suite's id.

    ``cause``: the cluster's tests fail an assertion with this message, not the cart's 500.
    """
    engine = get_engine(settings.database_url)
    now = datetime.now(UTC)
    with session_scope(engine, write=True) as session:
        specs = [_spec(case_id) for case_id in HISTORY]
        suite_id = create_suite(session, "Shop", TARGET, specs, "user:editor@example.com").id
        runs = len(HISTORY["coin"])
        for r in range(runs):
            run_id = f"r-opt-{r:02d}"
            session.add(
                Run(
                    id=run_id,
                    target=TARGET,
                    status="failed",
                    options=RunOptions(),
                    created_at=now - timedelta(minutes=1 + 10 * (runs - r)),
                    suite_id=suite_id,
                )
            )
            for case_id, letters in HISTORY.items():
                bad = letters[r] == "F"
                session.add(
                    TestResultRow(
                        run_id=run_id,
                        case_id=case_id,
                        browser="chromium",
                        status="failed" if bad else "passed",
                        duration_ms=10_000 if case_id == "slow" else 500 + r,
                        data=_failed(case_id, run_id, r, cause) if bad else {},
                    )
                )
    return suite_id


def analysed(settings: Settings, names: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The history seeded and analysed as the scheduled job does: (suite id, the job's detail)."""
    suite_id = seed_history(settings, names)
    return suite_id, scheduled_analysis(get_engine(settings.database_url), settings)
