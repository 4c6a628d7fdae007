"""Which failures are timing-shaped, over messages real Chromium gives, and when retries stop."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from matf.agents.retrypolicy import Failure, Retries, timing_shape
from matf.browser.errors import StepFailed, playwright_errors
from matf.results import FailedRequest, StepResult, Violation


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _message(action: Callable[[], object]) -> str:
    """What a step says when ``action`` fails, as the executor receives it."""
    with pytest.raises(StepFailed) as caught, playwright_errors():
        action()
    return str(caught.value)


def _detached(page: Page) -> str:
    page.set_content("<input type='checkbox' id='a'>")
    handle = page.query_selector("#a")
    assert handle is not None
    page.evaluate("document.body.innerHTML = ''")
    return _message(lambda: handle.check(timeout=500))


def _navigated_away(page: Page) -> str:
    page.set_content("<p>here</p>")
    reload = "() => { setTimeout(() => location.reload(), 0); return new Promise(() => {}); }"
    return _message(lambda: page.evaluate(reload))


def test_a_timeout_from_chromium_is_timing_shaped(page: Page) -> None:
    page.set_content("<p>no button</p>")
    message = _message(lambda: page.locator("#go").click(timeout=300))
    assert "Timeout 300ms exceeded" in message
    assert timing_shape("failed", message) == "a timeout"


def test_a_detached_element_from_chromium_is_timing_shaped(page: Page) -> None:
    message = _detached(page)
    assert timing_shape("failed", message) == "a detached element", message


def test_a_context_destroyed_by_a_navigation_is_timing_shaped(page: Page) -> None:
    message = _navigated_away(page)
    assert timing_shape("failed", message) == "a navigation race", message


@pytest.mark.parametrize(
    "message",
    [
        # Recorded from Chromium: a page that navigates itself while goto waits for its load.
        'Page.goto: Navigation to "http://127.0.0.1:54319/" is interrupted by another '
        'navigation to "http://127.0.0.1:54319/x2"',
        "Page.goto: net::ERR_ABORTED at http://127.0.0.1:54319/next",
        "test timed out after 1000 ms",
    ],
)
def test_races_and_the_tests_own_budget_are_timing_shaped(message: str) -> None:
    assert timing_shape("failed", message) is not None


def test_a_browser_error_is_timing_shaped_whatever_it_says() -> None:
    assert timing_shape("error", "browser failure: anything") == "a browser error"


def test_assertions_from_chromium_are_not_timing_shaped(page: Page) -> None:
    page.set_content("<h1>Lab failure</h1>")
    missing = _message(lambda: expect(page.locator("#nope")).to_be_visible(timeout=300))
    wrong = _message(
        lambda: expect(page.get_by_role("heading")).to_contain_text("All good", timeout=300)
    )
    assert "element(s) not found" in missing and "All good" in wrong
    assert timing_shape("failed", missing) is None and timing_shape("failed", wrong) is None
    assert timing_shape("failed", "http://x/gone answered HTTP 404, expected 2xx") is None


def _failure(
    message: str,
    violations: list[Violation] | None = None,
    requests: list[FailedRequest] | None = None,
) -> Failure:
    step = StepResult(
        index=1, action="check_accessibility", description="", status="failed", error=message
    )
    return Failure.of("failed", None, [step], violations or [], requests or [])


def test_failures_that_differ_only_in_durations_and_timestamps_are_the_same() -> None:
    first = _failure("took 1200 ms at 2026-12-07T05:16:18Z (1765084578123)")
    second = _failure("took 980 ms at 2026-12-07T05:16:41Z (1765084601456)")
    assert first == second


def test_failures_with_other_violations_or_requests_differ() -> None:
    one = [Violation(rule="image-alt", impact="critical", nodes=1)]
    two = [Violation(rule="image-alt", impact="critical", nodes=2)]
    assert _failure("1 violation", violations=one) != _failure("1 violation", violations=two)
    gone = [FailedRequest(url="http://x/a.png", status=404)]
    broken = [FailedRequest(url="http://x/a.png", status=500)]
    assert _failure("boom", requests=gone) != _failure("boom", requests=broken)


def test_a_conclusive_first_attempt_is_never_retried() -> None:
    retries = Retries(allowed=2)
    assert retries.failed(_failure("over budget"), conclusive=True) is False
    assert retries.note is not None and retries.note.startswith("not retried: ")


def test_one_retry_that_fails_otherwise_ends_with_the_reason() -> None:
    retries = Retries(allowed=1)
    assert retries.failed(_failure("3 violations")) is True
    assert retries.failed(_failure("Locator.click: Timeout 500ms exceeded.")) is False
    assert retries.note == "retried once: a timeout is timing-shaped"


def test_a_repeat_after_a_different_failure_stops_on_that_repeat() -> None:
    retries = Retries(allowed=4)
    assert retries.failed(_failure("Page.goto: Timeout 500ms exceeded.")) is True
    assert retries.failed(_failure("2 violations")) is True
    assert retries.failed(_failure("2 violations")) is False
    assert retries.note == (
        "not retried further: the failure repeated identically on attempt 3 (same axe violations)"
    )
