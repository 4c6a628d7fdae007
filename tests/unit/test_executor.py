"""The executor's outcomes in real Chromium: passed, failed, flaky, timed out, skipped.

When retries stop and why: ``test_retry_decisions.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.browser.pool import BrowserPool
from matf.spec import parse_spec

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=5_000, retries=2)


def _spec(url: str, steps: list[dict[str, object]], **extra: object):  # type: ignore[no-untyped-def]
    return parse_spec({"id": "t", "name": "t", "url": url, "steps": steps, **extra})


def test_a_passing_test_passes_in_one_attempt(demo: str, pool: BrowserPool, tmp_path: Path) -> None:
    spec = _spec(
        f"{demo}/lab/ok",
        [
            {"action": "goto", "url": "/lab/ok"},
            {"action": "expect_text", "target": {"role": "heading"}, "text": "Lab"},
        ],
    )
    result = run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    assert (result.status, result.attempts, result.error) == ("passed", 1, None)
    assert [s.status for s in result.steps] == ["passed", "passed"]
    assert result.artifacts.screenshot is None  # evidence only on failure


def test_a_failing_test_stops_when_its_retry_fails_alike_and_keeps_evidence(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _spec(
        f"{demo}/lab/fail",
        [
            {"action": "goto", "url": "/lab/fail"},
            {"action": "expect_text", "target": {"role": "heading"}, "text": "All good"},
            {"action": "expect_content"},
        ],
    )
    result = run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    assert result.status == "failed" and result.attempts == 2  # the retry repeated it
    assert "repeated identically on attempt 2" in (result.retry_note or "")
    assert "All good" in (result.error or "") and "step 2" in (result.error or "")
    assert [s.status for s in result.steps] == ["passed", "failed", "skipped"]
    assert (
        result.artifacts.screenshot and (tmp_path / result.artifacts.screenshot).stat().st_size > 0
    )
    assert result.artifacts.trace and (tmp_path / result.artifacts.trace).stat().st_size > 0


def test_a_test_that_fails_then_passes_is_flaky_not_passed(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    key = uuid.uuid4().hex
    spec = _spec(f"{demo}/", [{"action": "goto", "url": f"/lab/flaky?key={key}&fail=1"}])
    result = run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    assert result.status == "flaky" and result.attempts == 2
    assert result.error is None and "HTTP 500" in result.attempt_errors[0]
    assert result.retry_note == "passed on attempt 2 (flaky)"


def test_a_test_past_its_time_budget_fails_as_timed_out(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _spec(f"{demo}/", [{"action": "goto", "url": "/lab/slow?ms=4000"}], timeout_ms=1000)
    result = run_test(
        spec,
        "chromium",
        "run1",
        Environment(
            pool,
            ExecutionLimits(test_timeout_ms=60_000, step_timeout_ms=30_000, retries=0),
            tmp_path,
        ),
    )
    assert result.status == "failed"
    assert "timed out after 1000 ms" in (result.error or "")
    assert result.steps[0].status == "failed" and result.steps[0].action == "goto"


def test_page_problems_are_recorded_with_the_result(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _spec(
        f"{demo}/dashboard",
        [
            {"action": "goto", "url": "/dashboard", "wait_until": "networkidle"},
            {"action": "expect_no_failed_requests"},
        ],
    )
    result = run_test(
        spec,
        "chromium",
        "run1",
        Environment(
            pool,
            ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=5_000, retries=0),
            tmp_path,
        ),
    )
    assert result.status == "failed"
    assert any(r.url.endswith("/api/stats") and r.status == 500 for r in result.failed_requests)


def test_a_browser_that_is_not_installed_is_skipped_with_the_reason(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _spec(f"{demo}/", [{"action": "goto", "url": "/"}])
    result = run_test(spec, "webkit", "run1", Environment(pool, LIMITS, tmp_path))
    if result.status != "skipped":
        pytest.skip("Playwright's WebKit is installed here")
    assert "webkit is not installed" in (result.error or "")


def test_a_worker_launches_its_browser_once_for_many_tests(
    demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _spec(f"{demo}/lab/ok", [{"action": "goto", "url": "/lab/ok"}])
    run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    launched = pool.launches
    results = [
        run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path)) for _ in range(3)
    ]
    assert [r.status for r in results] == ["passed"] * 3
    assert pool.launches == launched
