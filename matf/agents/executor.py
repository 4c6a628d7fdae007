"""Run one test spec in one browser: attempts, timeouts, evidence on failure.

Stateless by design: everything comes in with the call and goes out in the
returned result; it never opens the database, so executors scale out freely.
A test that fails and then passes on a retry is ``flaky``, not ``passed``.
A failure that a retry repeats identically is not retried further, unless it
is timing-shaped (``matf.agents.retrypolicy``); the result says why
(``retry_note``).
Traces are recorded on retries (Playwright's "on-first-retry"), or on the only
attempt when retries are off, and kept only when that attempt failed.

A test that fills secrets (``{{secret:NAME}}`` in its steps) is never traced
nor filmed, and its result says so (``Artifacts.withheld``). A Playwright
trace holds each action's parameters, DOM snapshots with the fields' values,
screencast frames and the network's request bodies, and Playwright has no way
to leave a value out of them; a video shows the fields as they are typed in.
Stopping the trace before the first secret would keep only what comes before
it, seldom where the test failed. Screenshots stay: they mask the fields
secrets went into and any text on the page that shows one. And every string
of the result is scrubbed of the test's secret values (``matf.redaction``),
whatever reflected them: an error quoting the page, a URL, an API's answer.

A signed-in test (``Environment.login``) starts each attempt's context from
its storage state, held in memory only. Its session's values (cookies, local
storage, the password) are scrubbed from the result like secrets, and from
its trace, which holds them in request headers and storage: the trace is kept
only once rewritten without them (``matf.browser.tracescrub``). When an
attempt fails on a sign-in form, the test signs in again once and retries
(``matf.agents.relogin``); that attempt counts against no retry, and the
result says so (``session_note``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from matf import spec as s
from matf.agents import relogin
from matf.agents.relogin import LoginSession, Renewal
from matf.agents.retrypolicy import Failure, Retries
from matf.browser.builds import video_available
from matf.browser.errors import (
    BrowserCrashed,
    Conclusive,
    StepFailed,
    TestTimedOut,
    playwright_errors,
)
from matf.browser.guard import context_options
from matf.browser.launch import BrowserUnavailable
from matf.browser.steps import Observed, VisualEnv, describe, run_step
from matf.browser.visual import MASK_COLOR, baseline_set
from matf.errors import UsageError
from matf.netguard import NetworkPolicy
from matf.placeholders import referenced_names
from matf.redaction import Redactor, redacting
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


DEFAULT_VIEWPORT = {"width": 1280, "height": 720}


@dataclass(frozen=True)
class Rendering:
    """How a run's pages are rendered and recorded, the same for every test of the run.

    ``device``: a name from Playwright's device list ("Pixel 7"); ``video``:
    record each attempt, keep the recording of a failed one; visual baselines
    are read from ``baselines_root``, under ``baseline_set`` (the target's host
    and port unless the run names another set).
    """

    device: str | None = None
    video: bool = False
    baselines_root: Path | None = None
    baseline_set: str | None = None


@dataclass(frozen=True)
class Environment:
    """Everything a test runs with besides itself, the same for every test of a run here.

    A guarded ``network`` policy sends every connection of the test's browser
    context through the guard proxy (``matf.browser.guard``). ``secrets`` fill
    the spec's ``{{secret:NAME}}`` placeholders as steps run, and nowhere else.
    ``login``: a signed-in test's session, its state and credentials (in no repr).
    """

    pool: BrowserPool
    limits: ExecutionLimits
    artifacts_root: Path
    network: NetworkPolicy | None = None
    rendering: Rendering = Rendering()
    secrets: Mapping[str, str] = field(default_factory=dict)
    login: LoginSession | None = field(default=None, repr=False)

    def scrubbed(self) -> dict[str, str]:
        """What leaves no executor: the secrets, and a signed-in test's session values."""
        return {**relogin.secret_values(self.login), **self.secrets}


@dataclass
class _Attempt:
    outcome: Status  # passed | failed | error
    error: str | None
    steps: list[StepResult]
    seen: Observed
    screenshot: str | None = None
    trace: str | None = None
    video: str | None = None
    conclusive: bool = False  # a verdict already judged on several measurements
    signed_out_at: str | None = None  # the sign-in form the page showed instead of the test's
    bounced: bool = False  # failed signed out, then signed in again: not the test's failure
    withheld: str | None = None  # evidence not kept, and why


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


WITHHELD = "trace not recorded: this test fills secrets, which a trace would hold in clear"


def fills_secrets(spec: TestSpec) -> bool:
    """Whether any step of ``spec`` refers to a secret (``{{secret:NAME}}``)."""
    return bool(referenced_names([step.model_dump(mode="json") for step in spec.steps]))


def run_test(spec: TestSpec, browser_name: str, run_id: str, env: Environment) -> TestResult:
    """Run ``spec`` in ``browser_name`` with retries and return its final result.

    Every string of the result is scrubbed of the secret values the test had.
    """
    result = _run_test(spec, browser_name, run_id, env)
    return Redactor(env.scrubbed()).scrub_model(result)


def _run_test(spec: TestSpec, browser_name: str, run_id: str, env: Environment) -> TestResult:
    if env.rendering.video and not video_available():
        # The run says so once, not every test.
        env = replace(env, rendering=replace(env.rendering, video=False))
    withheld = None
    if fills_secrets(spec):
        video = env.rendering.video
        withheld = WITHHELD + ("; nor video, which shows them typed" if video else "")
        withheld += "; screenshots mask the fields they fill"
        env = replace(env, rendering=replace(env.rendering, video=False))
    started = time.monotonic()
    base = TestResult.for_spec(
        spec, browser_name, run_id, "skipped", worker=worker_name(), device=env.rendering.device
    )
    pool = env.pool
    try:
        with pool.slot(browser_name):
            browser = pool.browser(browser_name)
            keywords = context_keywords(spec, browser_name, env)
            test = _Test(spec, browser_name, run_id, env, keywords, traceable=withheld is None)
            attempts, retries, session_note = _attempts(test, browser, pool)
    except BrowserUnavailable as exc:
        return base.model_copy(update={"status": "skipped", "error": exc.message, "attempts": 0})
    except UsageError as exc:  # a device this Playwright does not know
        return base.model_copy(update={"status": "error", "error": exc.message, "attempts": 0})

    last = attempts[-1]
    failed_before = [a.error or "failed" for a in attempts[:-1]]
    if last.outcome == "passed":
        status: Status = "flaky" if any(not a.bounced for a in attempts[:-1]) else "passed"
    else:
        status = last.outcome
    return base.model_copy(
        update={
            "status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "attempts": len(attempts),
            "error": None if status in ("passed", "flaky") else last.error,
            "attempt_errors": failed_before,  # a flaky test shows its passing attempt below
            "retry_note": retries.note,
            "session_note": relogin.session_note(env.login, session_note),
            "violations": last.seen.violations,
            "steps": last.steps,
            "console_errors": [str(r) for r in last.seen.console[:50]],
            "page_errors": [str(r) for r in last.seen.page[:50]],
            "failed_requests": last.seen.failed_requests[:50],
            "performance": last.seen.performance,
            "visual": last.seen.visual,
            "api": last.seen.api,
            "artifacts": Artifacts(
                screenshot=last.screenshot,
                trace=last.trace,
                video=last.video,
                withheld="; ".join(filter(None, (withheld, last.withheld))) or None,
            ),
        }
    )


def _attempts(
    test: _Test, browser: Browser, pool: BrowserPool
) -> tuple[list[_Attempt], Retries, str | None]:
    """Attempt ``test`` until it passes or another attempt could only repeat its failure.

    The first attempt that fails signed out signs in again and is retried once
    more, whatever the retries; the third value says how that went.
    """
    attempts: list[_Attempt] = []
    retries = Retries(test.env.limits.retries)
    left, note = test.env.limits.retries + 1, None
    with ExitStack() as scrubbing:
        while left > 0:
            left -= 1
            attempt = _run_attempt(test, browser, len(attempts) + 1)
            attempts.append(attempt)
            if attempt.outcome == "passed":
                retries.passed()
                break
            if attempt.signed_out_at is not None and note is None:
                renewal = _sign_in_again(test, browser, attempt)
                note = renewal.note
                if renewal.state is None:
                    attempt.outcome, attempt.error = "error", renewal.failure
                    break
                scrubbing.enter_context(redacting(test.env.scrubbed()))  # the new state's too
                test = replace(test, keywords={**test.keywords, "storage_state": renewal.state})
                attempt.bounced, left = True, left + 1
                continue
            if not retries.failed(_failure(attempt), attempt.conclusive):
                break
            if attempt.outcome == "error" and not browser.is_connected():
                browser = pool.browser(test.browser_name)  # relaunch once the old one died
    return attempts, retries, note


def _sign_in_again(test: _Test, browser: Browser, attempt: _Attempt) -> Renewal:
    login = test.env.login
    assert login is not None and attempt.signed_out_at is not None  # only signed-in tests bounce
    used = test.keywords.get("storage_state")
    return relogin.sign_in_again(
        browser, login, test.spec.url, attempt.signed_out_at, used, test.env.network
    )


def _failure(attempt: _Attempt) -> Failure:
    seen = attempt.seen
    return Failure.of(
        attempt.outcome,
        attempt.error,
        attempt.steps,
        seen.violations,
        seen.failed_requests,
        [r.text for r in seen.console],
        [r.text for r in seen.page],
    )


def context_keywords(spec: TestSpec, browser_name: str, env: Environment) -> dict[str, Any]:
    """``new_context`` keywords: guard proxy, device or viewport, a fixed device scale."""
    rendering = env.rendering
    keywords: dict[str, Any] = {"viewport": dict(DEFAULT_VIEWPORT), "device_scale_factor": 1}
    if rendering.device is not None:
        descriptor = dict(env.pool.device(rendering.device))
        descriptor.pop("default_browser_type", None)
        if browser_name == "firefox" and descriptor.get("is_mobile"):
            raise BrowserUnavailable(
                f"firefox cannot emulate the mobile device {rendering.device!r} "
                "(Playwright supports mobile emulation in Chromium and WebKit only)"
            )
        keywords.update(descriptor)
    if spec.viewport is not None:
        keywords["viewport"] = spec.viewport.model_dump()
    state = relogin.current_state(env.login) if env.login is not None else None
    keywords.update(context_options(env.network, browser_name, state))
    return keywords


def _variant(rendering: Rendering, keywords: dict[str, Any]) -> str:
    if rendering.device is not None:
        return rendering.device
    viewport = keywords.get("viewport") or DEFAULT_VIEWPORT
    return f"{viewport['width']}x{viewport['height']}"


@dataclass(frozen=True)
class _Test:
    """One test in one browser, as every attempt at it sees it."""

    spec: TestSpec
    browser_name: str
    run_id: str
    env: Environment
    keywords: dict[str, Any] = field(repr=False)  # the browser context's: a storage state too
    traceable: bool = True  # False when the test fills secrets

    def stem(self, number: int) -> str:
        return f"{self.spec.id}-{self.browser_name}-{number}"

    def traced(self, number: int) -> bool:
        """Playwright's "on-first-retry", or the only attempt when there are no retries."""
        return self.traceable and (number > 1 or self.env.limits.retries == 0)


def _observer(test: _Test, number: int) -> Observed:
    spec, env = test.spec, test.env
    seen = Observed.for_spec(spec, env.secrets)
    if env.rendering.baselines_root is not None:
        seen.visual_env = VisualEnv(
            baselines_root=env.rendering.baselines_root,
            artifacts_root=env.artifacts_root,
            baseline_set=env.rendering.baseline_set or baseline_set(spec.url),
            case_id=spec.id,
            browser=test.browser_name,
            variant=_variant(env.rendering, test.keywords),
            stem=f"{test.run_id}/{test.stem(number)}",
        )
    return seen


def _run_attempt(test: _Test, browser: Browser, number: int) -> _Attempt:
    spec, env = test.spec, test.env
    seen = _observer(test, number)
    trace = test.traced(number)
    steps: list[StepResult] = []
    video_dir = None
    if env.rendering.video:
        video_dir = env.artifacts_root / test.run_id / f"{test.stem(number)}-video"
    try:
        context = _new_context(browser, test.keywords, video_dir)
    except Exception as exc:  # noqa: BLE001 - any failure here is infrastructure
        return _Attempt("error", f"could not open a browser context: {exc}", steps, seen)
    attempt = _Attempt("passed", None, steps, seen)
    page: Page | None = None
    try:
        if any(isinstance(step, s.CheckPerformance) for step in spec.steps):
            from matf.browser.perf import INIT_SCRIPT

            context.add_init_script(INIT_SCRIPT)
        if trace:
            context.tracing.start(screenshots=True, snapshots=True, sources=False)
        page = context.new_page()
        seen.attach(page)
        _run_steps(test, page, attempt)
        if attempt.outcome != "passed" and env.login is not None:
            attempt.signed_out_at = relogin.bounced_to(page, spec.url, env.login)
        if attempt.outcome != "passed":
            _keep_evidence(attempt, context, page, trace, test, number)
    except Exception as exc:  # noqa: BLE001 - anything unforeseen is reported, not raised
        attempt.outcome, attempt.error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        try:
            if trace and attempt.trace is None:
                context.tracing.stop()
            context.close()
        except Exception:  # noqa: BLE001 - a crashed browser closes nothing
            pass
        if video_dir is not None:
            attempt.video = _keep_video(
                video_dir, page, attempt.outcome != "passed", env.artifacts_root
            )
    return attempt


def _run_steps(test: _Test, page: Page, attempt: _Attempt) -> None:
    """Run the spec's steps until one fails; the rest are recorded as skipped."""
    spec, limits, steps = test.spec, test.env.limits, attempt.steps
    budget_ms = spec.timeout_ms or limits.test_timeout_ms
    deadline = time.monotonic() + budget_ms / 1000
    for index, step in enumerate(spec.steps):
        remaining_ms = (deadline - time.monotonic()) * 1000
        t0 = time.monotonic()
        try:
            if remaining_ms <= 0:
                raise TestTimedOut(f"test timed out after {budget_ms} ms")
            with playwright_errors():
                run_step(
                    page, step, spec.url, attempt.seen, min(limits.step_timeout_ms, remaining_ms)
                )
        except StepFailed as exc:
            message = str(exc)
            if time.monotonic() >= deadline and not isinstance(exc, TestTimedOut):
                message = f"test timed out after {budget_ms} ms: {message}"
            steps.append(_step(index, step, "failed", t0, message))
            attempt.outcome = "failed"
            attempt.error = f"step {index + 1} ({describe(step)}): {message}"
            attempt.conclusive = isinstance(exc, Conclusive)
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


def _new_context(browser: Browser, keywords: dict[str, Any], video_dir: Path | None) -> Any:
    if video_dir is None:
        return browser.new_context(**keywords)
    return browser.new_context(**keywords, record_video_dir=str(video_dir))


def _keep_video(folder: Path, page: Page | None, failed: bool, root: Path) -> str | None:
    """The failed attempt's recording (relative to ``root``); a passing one's is deleted."""
    import shutil

    try:
        path = Path(page.video.path()) if page is not None and page.video else None
    except Exception:  # noqa: BLE001 - no recording: nothing to keep
        path = None
    if not failed or path is None or not path.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return path.resolve().relative_to(root.resolve()).as_posix()


def _keep_evidence(
    attempt: _Attempt,
    context: BrowserContext,
    page: Page,
    trace: bool,
    test: _Test,
    number: int,
) -> None:
    run_id = test.run_id
    folder = test.env.artifacts_root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = test.stem(number)
    try:
        page.screenshot(
            path=str(folder / f"{stem}.png"),
            full_page=True,
            timeout=3_000,
            mask=attempt.seen.masks(page),
            mask_color=MASK_COLOR,
        )
        attempt.screenshot = f"{run_id}/{stem}.png"
    except Exception:  # noqa: BLE001 - evidence is best effort; the failure stands
        pass
    if trace:
        try:
            path = folder / f"{stem}.zip"
            if test.env.login is None:
                context.tracing.stop(path=str(path))
            else:
                relogin.keep_trace(context, path, test.env.scrubbed().values())
            attempt.trace = f"{run_id}/{stem}.zip"
        except Exception:  # noqa: BLE001
            attempt.trace = None
            if test.env.login is not None:
                attempt.withheld = "trace not kept: the session's values could not be scrubbed"


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
