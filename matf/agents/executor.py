"""Run one test spec in one browser: attempts, timeouts, evidence on failure.

Stateless by design: everything comes in with the call and goes out in the
returned result; it never opens the database, so executors scale out freely.
A test that fails and then passes on a retry is ``flaky``, not ``passed``.
Traces are recorded on retries (Playwright's "on-first-retry"), or on the only
attempt when retries are off, and kept only when that attempt failed.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from matf.browser.errors import BrowserCrashed, StepFailed, TestTimedOut, playwright_errors
from matf.browser.guard import context_options
from matf.browser.launch import BrowserUnavailable
from matf.browser.steps import Observed, describe, origin_of, run_step
from matf.netguard import NetworkPolicy
from matf.results import Artifacts, Status, StepResult, TestResult
from matf.spec import Step, TestSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from matf.browser.pool import BrowserPool


@dataclass(frozen=True)
class ExecutionLimits:
    test_timeout_ms: int
    step_timeout_ms: int
    retries: int


@dataclass
class _Attempt:
    outcome: Status  # passed | failed | error
    error: str | None
    steps: list[StepResult]
    seen: Observed
    screenshot: str | None = None
    trace: str | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(
    spec: TestSpec,
    browser_name: str,
    run_id: str,
    pool: BrowserPool,
    limits: ExecutionLimits,
    artifacts_root: Path,
    network: NetworkPolicy | None = None,
) -> TestResult:
    """Run ``spec`` in ``browser_name`` with retries and return its final result.

    A guarded ``network`` policy sends every connection of the test's browser
    context through the guard proxy (``matf.browser.guard``).
    """
    started = time.monotonic()
    base = TestResult.for_spec(spec, browser_name, run_id, "skipped", worker=worker_name())
    try:
        browser = pool.browser(browser_name)
    except BrowserUnavailable as exc:
        return base.model_copy(update={"status": "skipped", "error": exc.message, "attempts": 0})

    attempts: list[_Attempt] = []
    for number in range(1, limits.retries + 2):
        trace = number > 1 or limits.retries == 0
        attempt = _run_attempt(
            spec, browser, number, trace, limits, artifacts_root, run_id, browser_name, network
        )
        attempts.append(attempt)
        if attempt.outcome == "passed":
            break
        if attempt.outcome == "error" and not browser.is_connected():
            browser = pool.browser(browser_name)  # relaunch once the old one died

    last = attempts[-1]
    failed_before = [a.error or "failed" for a in attempts[:-1]]
    if last.outcome == "passed":
        status: Status = "flaky" if failed_before else "passed"
    else:
        status = last.outcome
    return base.model_copy(
        update={
            "status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "attempts": len(attempts),
            "error": None if status in ("passed", "flaky") else last.error,
            "attempt_errors": failed_before,  # a flaky test shows its passing attempt below
            "violations": last.seen.violations,
            "steps": last.steps,
            "console_errors": last.seen.console_errors[:50],
            "page_errors": last.seen.page_errors[:50],
            "failed_requests": last.seen.failed_requests[:50],
            "artifacts": Artifacts(screenshot=last.screenshot, trace=last.trace),
        }
    )


def _run_attempt(
    spec: TestSpec,
    browser: Browser,
    number: int,
    trace: bool,
    limits: ExecutionLimits,
    artifacts_root: Path,
    run_id: str,
    browser_name: str,
    network: NetworkPolicy | None,
) -> _Attempt:
    seen = Observed(origin=origin_of(spec.url))
    steps: list[StepResult] = []
    budget_ms = spec.timeout_ms or limits.test_timeout_ms
    deadline = time.monotonic() + budget_ms / 1000
    try:
        context = browser.new_context(**context_options(network, browser_name))
    except Exception as exc:  # noqa: BLE001 - any failure here is infrastructure
        return _Attempt("error", f"could not open a browser context: {exc}", steps, seen)
    outcome: Status = "passed"
    error: str | None = None
    attempt = _Attempt(outcome, error, steps, seen)
    try:
        if trace:
            context.tracing.start(screenshots=True, snapshots=True, sources=False)
        page = context.new_page()
        seen.attach(page)
        for index, step in enumerate(spec.steps):
            remaining_ms = (deadline - time.monotonic()) * 1000
            t0 = time.monotonic()
            try:
                if remaining_ms <= 0:
                    raise TestTimedOut(f"test timed out after {budget_ms} ms")
                with playwright_errors():
                    run_step(page, step, spec.url, seen, min(limits.step_timeout_ms, remaining_ms))
            except StepFailed as exc:
                message = str(exc)
                if time.monotonic() >= deadline and not isinstance(exc, TestTimedOut):
                    message = f"test timed out after {budget_ms} ms: {message}"
                steps.append(_step(index, step, "failed", t0, message))
                attempt.outcome, attempt.error = (
                    "failed",
                    f"step {index + 1} ({describe(step)}): {message}",
                )
                break
            except BrowserCrashed as exc:
                steps.append(_step(index, step, "failed", t0, str(exc)))
                attempt.outcome, attempt.error = "error", f"browser failure: {exc}"
                break
            steps.append(_step(index, step, "passed", t0, None))
        for index in range(len(steps), len(spec.steps)):
            step = spec.steps[index]
            steps.append(
                StepResult(
                    index=index, action=step.action, description=describe(step), status="skipped"
                )
            )
        if attempt.outcome != "passed":
            _keep_evidence(
                attempt, context, page, trace, artifacts_root, run_id, spec.id, browser_name, number
            )
    except Exception as exc:  # noqa: BLE001 - anything unforeseen is reported, not raised
        attempt.outcome, attempt.error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        try:
            if trace and attempt.trace is None:
                context.tracing.stop()
            context.close()
        except Exception:  # noqa: BLE001 - a crashed browser closes nothing
            pass
    return attempt


def _keep_evidence(
    attempt: _Attempt,
    context: BrowserContext,
    page: Page,
    trace: bool,
    artifacts_root: Path,
    run_id: str,
    case_id: str,
    browser_name: str,
    number: int,
) -> None:
    folder = artifacts_root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{case_id}-{browser_name}-{number}"
    try:
        page.screenshot(path=str(folder / f"{stem}.png"), full_page=True, timeout=3_000)
        attempt.screenshot = f"{run_id}/{stem}.png"
    except Exception:  # noqa: BLE001 - evidence is best effort; the failure stands
        pass
    if trace:
        try:
            context.tracing.stop(path=str(folder / f"{stem}.zip"))
            attempt.trace = f"{run_id}/{stem}.zip"
        except Exception:  # noqa: BLE001
            attempt.trace = None


def _step(
    index: int, step: Step, status: Literal["passed", "failed"], t0: float, error: str | None
) -> StepResult:
    return StepResult(
        index=index,
        action=step.action,
        description=describe(step),
        status=status,
        duration_ms=int((time.monotonic() - t0) * 1000),
        error=error,
    )
