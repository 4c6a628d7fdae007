"""Co-failing clusters name the failure signatures their tests share, the reports' own ids.

A real SQLite history whose failed results keep their evidence as the
executor stores it (``TestResultRow.data`` is the TestResult's JSON): three
tests fail together when the cart API answers 500, each on its own page and
with its own order id; one of them also fails a request of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from matf.agents.clustercauses import CAUSE_RUNS
from matf.agents.optimizer import analyse
from matf.agents.signatures import group_failures, signatures
from matf.options import RunOptions
from matf.results import FailedRequest, StepResult, TestResult
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Run, Suite, TestResultRow

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
SITE = "http://shop.test"
HISTORY = {
    "cart": "PPFPPFPPFPPFPPF",
    "checkout": "PPFPPFPPFPPFPPF",
    "payment": "PPFPPFPPFPPPPPF",
    "search": "PFPPFPPFPPFPPFP",  # fails as often, in other runs, for another reason
    "steady": "PPPPPPPPPPPPPPP",
}


def _failed(case_id: str, run: int, run_id: str) -> TestResult:
    """The result a failing test leaves: the cart API's 500, on its page, with its order id."""
    step = StepResult(
        index=1,
        action="expect_no_server_errors",
        description="no server errors",
        status="failed",
        error="1 request failed",
    )
    requests = [FailedRequest(url=f"{SITE}/api/cart/{1000 + run * 7}", method="GET", status=500)]
    if case_id == "cart":
        requests.append(FailedRequest(url=f"{SITE}/api/recommendations/{run}", status=503))
    if case_id == "search":
        step = step.model_copy(
            update={"action": "expect_text", "error": f"expected 12 results, got {run}"}
        )
    return TestResult(
        run_id=run_id,
        case_id=case_id,
        name=case_id,
        kind="functional",
        category="custom",
        browser="chromium",
        status="failed",
        url=f"{SITE}/{case_id}",
        error="1 request failed",
        steps=[step],
        failed_requests=requests,
    )


def _history(engine: Engine) -> dict[str, list[TestResult]]:
    runs = len(HISTORY["cart"])
    failed: dict[str, list[TestResult]] = {}
    with session_scope(engine, write=True) as session:
        session.add(Suite(id="s-shop", name="shop", target=f"{SITE}/"))
        for r in range(runs):
            run_id = f"r-{r:03d}"
            session.add(
                Run(
                    id=run_id,
                    target=f"{SITE}/",
                    status="failed",
                    options=RunOptions(),
                    created_at=NOW - timedelta(hours=runs - r),
                    suite_id="s-shop",
                )
            )
            for case_id, letters in HISTORY.items():
                bad = letters[r] == "F"
                result = _failed(case_id, r, run_id) if bad else None
                if result is not None:
                    failed.setdefault(run_id, []).append(result)
                session.add(
                    TestResultRow(
                        run_id=run_id,
                        case_id=case_id,
                        browser="chromium",
                        status="failed" if bad else "passed",
                        duration_ms=1000,
                        data=result.model_dump(mode="json") if result else {},
                    )
                )
    return failed


def test_a_cluster_names_the_cause_its_tests_share_with_the_reports_id(tmp_path: Path) -> None:
    # Given three tests that fail together behind the cart API's 500s
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    failed = _history(engine)
    # When the optimizer analyses the history
    with session_scope(engine) as session:
        found = analyse(session, days=30, threshold=0.8, now=NOW)
    [cluster] = found.findings()["clusters"]
    assert sorted(m["case_id"] for m in cluster["members"]) == ["cart", "checkout", "payment"]
    # Then the cluster's first signature is the shared one: all three tests, every run read
    shared, *others = cluster["signatures"]
    assert shared["title"] == "GET /api/cart/{id} -> 500"
    assert (shared["kind"], shared["tests"], shared["shared"]) == ("request", 3, True)
    assert shared["runs"] == CAUSE_RUNS
    # And the cart's own failing request is listed after it, as one member's
    assert [(s["title"], s["tests"], s["shared"]) for s in others] == [
        ("GET /api/recommendations/{id} -> 503", 1, False)
    ]
    # And the id is the one every run's report gives the cause in its failure groups
    latest = failed[max(failed)]
    [group] = [g for g in group_failures(latest) if g.title == shared["title"]]
    assert group.signature == shared["id"] == signatures(latest[0])[0].id
    assert group.count == 3


def test_results_without_evidence_leave_a_cluster_without_causes(tmp_path: Path) -> None:
    # Given the same history, stored without the results' JSON (as older rows may be)
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _history(engine)
    with session_scope(engine, write=True) as session:
        session.query(TestResultRow).update({TestResultRow.data: {}})
    # When it is analysed, the cluster is still found, with no signature to show
    with session_scope(engine) as session:
        found = analyse(session, days=30, threshold=0.8, now=NOW)
    [cluster] = found.findings()["clusters"]
    assert cluster["size"] == 3 and cluster["signatures"] == []


def test_matf_optimize_list_prints_a_clusters_shared_cause(tmp_path: Path) -> None:
    _history(get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    for args in (("run",), ("list",)):
        done = subprocess.run(
            [sys.executable, "-m", "cli", "optimize", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("cluster 1:"))
    assert lines[at + 1].startswith("  shared cause: GET /api/cart/{id} -> 500 [")
