"""Whether a failed test is worth another attempt, and the one line that says why.

A retry is for failures that may not happen again: a timeout, an element
detached while the test reached for it, a navigation racing an action, a
browser that died. A failure whose evidence repeats identically on a retry
(the same step failing with the same message, the same axe violations, the
same failed requests and console or page errors) is the site's answer, and a
third attempt would only repeat it: retrying stops there. The evidence is
compared with its volatile parts removed (durations, timestamps), so a
message that differs only in how long something took still counts as the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from matf.results import FailedRequest, StepResult, Violation

# Messages of failures that another attempt may not repeat, and what to call them.
# Each pattern is from a real Playwright or executor message (tests/unit/test_retrypolicy.py).
_TIMING_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"test timed out after"), "the test's time budget running out"),
    (re.compile(r"Timeout \d+ms exceeded|net::ERR_TIMED_OUT"), "a timeout"),
    (re.compile(r"not attached to the DOM|[Ee]lement is detached"), "a detached element"),
    (
        re.compile(
            r"Execution context was destroyed|interrupted by another navigation"
            r"|[Ff]rame was detached|net::ERR_ABORTED"
        ),
        "a navigation race",
    ),
    (re.compile(r"Target closed|Target crashed|Page crashed"), "a browser crash"),
    (re.compile(r"net::ERR_(CONNECTION_RESET|NETWORK_CHANGED)"), "a dropped connection"),
    (re.compile(r"\bHTTP (429|502|503|504)\b"), "a status that asks to try again later"),
)
_DURATION = re.compile(r"\b\d+(\.\d+)?\s?(ms|s|sec|seconds|milliseconds)\b")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
_EPOCH = re.compile(r"\b\d{10,13}\b")  # seconds or milliseconds since 1970
# What "the same" means to a reader, by the action of the failed step.
_SAME = {
    "check_accessibility": "same axe violations",
    "expect_no_failed_requests": "same failed requests",
    "expect_no_server_errors": "same failed requests",
    "expect_status": "same HTTP status",
    "expect_no_console_errors": "same console errors",
    "expect_no_page_errors": "same page errors",
}


def timing_shape(outcome: str, message: str) -> str | None:
    """What makes a failure one another attempt may not repeat; None: nothing does."""
    if outcome == "error":
        return "a browser error"
    return next((name for shape, name in _TIMING_SHAPES if shape.search(message)), None)


def normalized(text: str) -> str:
    """``text`` without what changes from one attempt to the next: durations, timestamps."""
    text = _TIMESTAMP.sub("<time>", text)
    text = _EPOCH.sub("<time>", text)
    return _DURATION.sub("<duration>", text)


@dataclass(frozen=True)
class Failure:
    """What one failed attempt showed, normalised: two equal ones failed the same way."""

    outcome: str  # failed | error
    step: tuple[int, str] | None  # the failed step's index and action
    message: str
    shape: str | None = None  # see timing_shape
    violations: tuple[tuple[str, str | None, int], ...] = ()
    requests: tuple[tuple[str, str, int | None, str | None], ...] = ()
    console: tuple[str, ...] = ()
    page: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        outcome: str,
        error: str | None,
        steps: Sequence[StepResult],
        violations: Sequence[Violation] = (),
        requests: Sequence[FailedRequest] = (),
        console: Sequence[str] = (),
        page: Sequence[str] = (),
    ) -> Failure:
        """The signature of an attempt; its message is the failed step's own, else ``error``."""
        failed = next((s for s in steps if s.status == "failed"), None)
        message = (failed.error if failed is not None else None) or error or ""
        return cls(
            outcome=outcome,
            step=(failed.index, failed.action) if failed is not None else None,
            message=normalized(message),
            shape=timing_shape(outcome, message),
            violations=tuple((v.rule, v.impact, v.nodes) for v in violations),
            requests=tuple((r.method, normalized(r.url), r.status, r.failure) for r in requests),
            console=tuple(normalized(text) for text in console),
            page=tuple(normalized(text) for text in page),
        )

    @property
    def sameness(self) -> str:
        """What repeated, as a reader would say it: "same axe violations"."""
        action = self.step[1] if self.step else ""
        if action in _SAME:
            return _SAME[action]
        if re.search(r"\bHTTP \d{3}\b", self.message):
            return "same HTTP status"
        return "same assertion" if action.startswith("expect") else "same error"


@dataclass
class Retries:
    """Attempts at one test: after each, whether to try again, and why, for the report."""

    allowed: int  # retries after the first attempt
    failures: list[Failure] = field(default_factory=list)
    note: str | None = None

    def passed(self) -> None:
        """The attempt after the recorded failures passed."""
        number = len(self.failures) + 1
        self.note = f"passed on attempt {number} (flaky)" if number > 1 else None

    def failed(self, failure: Failure, conclusive: bool = False) -> bool:
        """Record a failed attempt; True when another one could still end otherwise."""
        self.failures.append(failure)
        number = len(self.failures)
        if conclusive:
            self.note = (
                "not retried: the check's verdict is conclusive (a retry would repeat it)"
                if number == 1
                else f"not retried further: attempt {number} was conclusive"
            )
            return False
        if self.allowed == 0:
            self.note = "not retried: retries are off"
            return False
        shape = failure.shape
        if number > 1 and shape is None and failure == self.failures[-2]:
            self.note = (
                f"not retried further: the failure repeated identically on attempt {number}"
                f" ({failure.sameness})"
            )
            return False
        if number <= self.allowed:
            return True
        retried = "once" if self.allowed == 1 else f"{self.allowed} times"
        why = f"{shape} is timing-shaped" if shape else "the attempts failed differently"
        self.note = f"retried {retried}: {why}"
        return False
