"""Why a test did not pass: an application bug, UI drift, flakiness, or the environment.

The class decides what to do next. An application bug goes to the team that
owns the site; UI drift (an element the test looks for is no longer there)
goes to the healer, which proposes a new locator; a flaky test to the
optimizer's history; an environment problem (a browser that is missing or
died, a secret that cannot be opened, a run out of time) to whoever runs MATF.
The rules read only the result: which step failed, and how.
"""

from __future__ import annotations

import re
from typing import Literal

from matf.results import StepResult, TestResult

Kind = Literal["app-bug", "ui-drift", "flaky", "environment"]

# Steps that act on, or wait for, an element found by a locator.
_LOCATOR_STEPS = frozenset(
    {"click", "fill", "select", "check", "press", "submit", "expect_visible", "wait_for"}
)
# Playwright's words for "the locator matched nothing" (or nothing usable).
_NOT_FOUND = re.compile(
    r"element\(s\) not found|waiting for (get_by_|locator\(|internal:)|"
    r"strict mode violation|resolved to \d+ elements|Timeout \d+ms exceeded",
    re.IGNORECASE,
)
_ENVIRONMENT = re.compile(
    r"browser failure|could not open a browser context|is not installed|"
    r"executor's time limit|no result arrived|secret .* is not available|cannot emulate",
    re.IGNORECASE,
)


def classify(result: TestResult) -> tuple[Kind, str] | None:
    """The class of a result that did not pass, and the reason in a few words."""
    if result.status == "passed":
        return None
    if result.status == "flaky":
        return "flaky", f"failed {result.attempts - 1} time(s), then passed"
    error = result.error or ""
    if result.status in ("error", "skipped") or _ENVIRONMENT.search(error):
        return "environment", _first_line(error) or result.status
    failed = next((step for step in result.steps if step.status == "failed"), None)
    if failed is None:
        return "app-bug", _first_line(error) or "the test failed"
    if _drifted(failed):
        return "ui-drift", f"step {failed.index + 1} ({failed.action}) found no element to use"
    return "app-bug", f"step {failed.index + 1} ({failed.action}): {_first_line(failed.error)}"


def _drifted(step: StepResult) -> bool:
    """The step could not find its element (as opposed to finding it wrong)."""
    error = step.error or ""
    if step.action in _LOCATOR_STEPS:
        return bool(_NOT_FOUND.search(error))
    if step.action == "expect_text":
        return "element(s) not found" in error
    return False


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:200]
