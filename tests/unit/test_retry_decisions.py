"""Retries in real Chromium: a failure that repeats identically stops, a timing one goes on.

Every test runs with two retries allowed (three attempts at most), against
``tests.retry_site``; each says how many attempts it took and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.browser.pool import BrowserPool
from matf.results import TestResult
from matf.spec import parse_spec
from tests.retry_site import RetrySite

Runner = Callable[..., TestResult]

# A step waits 1 s: less than the late page's delay, so its click times out.
LIMITS = ExecutionLimits(test_timeout_ms=30_000, step_timeout_ms=1_000, retries=2)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with RetrySite() as server:
        yield server.url


@pytest.fixture
def run(site: str, pool: BrowserPool, tmp_path: Path) -> Runner:
    """Run steps against the site in the module's Chromium; two retries unless told."""

    def run_steps(steps: list[dict[str, object]], limits: ExecutionLimits = LIMITS) -> TestResult:
        spec = parse_spec({"id": "t", "name": "t", "url": f"{site}/ok", "steps": steps})
        return run_test(spec, "chromium", "run1", Environment(pool, limits, tmp_path))

    return run_steps


def test_the_same_axe_violations_on_the_first_retry_stop_the_retries(run: Runner) -> None:
    result = run([{"action": "goto", "url": "/a11y"}, {"action": "check_accessibility"}])
    assert (result.status, result.attempts) == ("failed", 2)
    assert {v.rule for v in result.violations} >= {"html-has-lang", "image-alt"}
    assert result.retry_note == (
        "not retried further: the failure repeated identically on attempt 2 (same axe violations)"
    )


def test_the_same_http_status_of_a_link_on_the_first_retry_stops_the_retries(run: Runner) -> None:
    steps = [{"action": "goto", "url": "/ok"}, {"action": "expect_status", "url": "/gone"}]
    result = run(steps)
    assert (result.status, result.attempts) == ("failed", 2)
    assert "answered HTTP 404" in (result.error or "")
    assert result.retry_note is not None and result.retry_note.endswith("(same HTTP status)")


def test_a_missing_element_repeated_on_the_first_retry_stops_the_retries(run: Runner) -> None:
    steps = [
        {"action": "goto", "url": "/ok"},
        {"action": "expect_visible", "target": {"css": "#checkout"}},
    ]
    result = run(steps)
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.retry_note is not None and result.retry_note.endswith("(same assertion)")
    assert len(result.attempt_errors) == 1 and result.attempt_errors[0] == result.error


def test_a_timeout_keeps_its_retries_and_passes_when_the_page_is_quick_again(run: Runner) -> None:
    # Given a button that shows up late on the first two loads only
    key = uuid.uuid4().hex
    steps = [
        {"action": "goto", "url": f"/late?key={key}&slow=2"},
        {"action": "click", "target": {"css": "#go"}},
    ]
    # When both late loads time out the same way
    result = run(steps)
    # Then the third attempt still runs, and finds the test flaky
    assert (result.status, result.attempts) == ("flaky", 3)
    assert all("Timeout 1000ms exceeded" in e for e in result.attempt_errors)
    assert result.retry_note == "passed on attempt 3 (flaky)"


def test_a_timeout_on_every_attempt_uses_every_retry_and_says_so(run: Runner) -> None:
    key = uuid.uuid4().hex
    steps = [
        {"action": "goto", "url": f"/late?key={key}&slow=9"},
        {"action": "click", "target": {"css": "#go"}},
    ]
    result = run(steps)
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.retry_note == "retried 2 times: a timeout is timing-shaped"


def test_failures_that_differ_between_attempts_keep_their_retries(run: Runner) -> None:
    key = uuid.uuid4().hex
    steps = [
        {"action": "goto", "url": f"/visit?key={key}"},
        {"action": "expect_text", "target": {"role": "heading"}, "text": "Visit 0"},
    ]
    result = run(steps)
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.retry_note == "retried 2 times: the attempts failed differently"


def test_a_test_that_passes_on_its_retry_is_still_flaky(run: Runner) -> None:
    key = uuid.uuid4().hex
    steps = [
        {"action": "goto", "url": f"/late?key={key}&slow=1"},
        {"action": "click", "target": {"css": "#go"}},
    ]
    result = run(steps)
    assert (result.status, result.attempts) == ("flaky", 2)
    assert result.retry_note == "passed on attempt 2 (flaky)"


def test_a_failure_with_retries_off_says_it_was_not_retried(run: Runner) -> None:
    limits = ExecutionLimits(test_timeout_ms=30_000, step_timeout_ms=1_000, retries=0)
    result = run([{"action": "expect_status", "url": "/gone"}], limits)
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.retry_note == "not retried: retries are off"


def test_a_test_that_passes_at_once_has_nothing_to_say_about_retries(run: Runner) -> None:
    result = run([{"action": "goto", "url": "/ok"}])
    assert (result.status, result.attempts, result.retry_note) == ("passed", 1, None)
