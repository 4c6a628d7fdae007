"""Each failure is classified from what really happened in a real browser."""

from __future__ import annotations

import uuid
from pathlib import Path

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.triage import classify
from matf.browser.pool import BrowserPool
from matf.results import TestResult
from matf.spec import parse_spec

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=2_000, retries=0)


def _run(
    pool: BrowserPool,
    url: str,
    steps: list[dict[str, object]],
    tmp: Path,
    browser: str = "chromium",
) -> TestResult:
    spec = parse_spec({"id": "t", "name": "t", "url": url, "steps": steps})
    return run_test(spec, browser, uuid.uuid4().hex[:8], Environment(pool, LIMITS, tmp))


def test_a_vanished_button_is_ui_drift(demo: str, pool: BrowserPool, tmp_path: Path) -> None:
    steps = [
        {"action": "goto", "url": "/newsletter"},
        {"action": "click", "target": {"role": "button", "name": "Subscribe now!"}},
    ]
    kind, reason = classify(_run(pool, demo, steps, tmp_path)) or ("", "")
    assert kind == "ui-drift" and "step 2 (click) found no element" in reason


def test_missing_text_target_is_drift_but_wrong_text_is_a_bug(
    healthy_demo: str, pool: BrowserPool, tmp_path: Path
) -> None:
    gone = [
        {"action": "goto", "url": "/"},
        {"action": "expect_text", "target": {"test_id": "no-such-banner"}, "text": "Sale"},
    ]
    wrong = [
        {"action": "goto", "url": "/"},
        {"action": "expect_text", "target": {"css": "h1"}, "text": "Closed for good"},
    ]
    assert (classify(_run(pool, healthy_demo, gone, tmp_path)) or ("",))[0] == "ui-drift"
    assert (classify(_run(pool, healthy_demo, wrong, tmp_path)) or ("",))[0] == "app-bug"


def test_the_seeded_bugs_are_application_bugs(demo: str, pool: BrowserPool, tmp_path: Path) -> None:
    throws = [
        {"action": "goto", "url": "/products/trail-pack"},
        {"action": "click", "target": {"role": "button", "name": "Check availability"}},
        {"action": "expect_no_page_errors", "since_last_action": True},
    ]
    broken = [{"action": "expect_status", "url": "/careers"}]
    for steps in (throws, broken):
        kind, reason = classify(_run(pool, demo, steps, tmp_path)) or ("", "")
        assert kind == "app-bug", reason


def test_a_missing_browser_is_the_environment(demo: str, pool: BrowserPool, tmp_path: Path) -> None:
    result = _run(pool, demo, [{"action": "goto", "url": "/"}], tmp_path, browser="webkit")
    assert result.status == "skipped"
    assert classify(result) == ("environment", result.error)


def test_passing_and_flaky_results(demo: str, pool: BrowserPool, tmp_path: Path) -> None:
    passed = _run(pool, demo, [{"action": "goto", "url": "/"}], tmp_path)
    assert classify(passed) is None
    flaky = passed.model_copy(update={"status": "flaky", "attempts": 2})
    assert classify(flaky) == ("flaky", "failed 1 time(s), then passed")
