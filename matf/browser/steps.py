"""Interpret one spec step against a live page: the only place specs turn into actions.

Specs are data: each action maps to a fixed Playwright call with arguments
taken from the spec, never to code the spec carries.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from matf import spec as s
from matf.browser.api import ApiStepFailed, run_api_request
from matf.browser.errors import Conclusive, StepFailed
from matf.browser.observed import Observed, Reported, VisualEnv, origin_of
from matf.browser.page import describe_refusal, resolve, wait_quiet
from matf.browser.perf import judge, measure, median_metrics
from matf.browser.visual import VisualChanged, check
from matf.placeholders import referenced_names
from matf.results import FailedRequest, Violation

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = ["Observed", "VisualEnv", "describe", "origin_of", "run_step"]
PERF_SAMPLES = 3  # loads a page over budget is judged on
IMPACT_ORDER = {"minor": 0, "moderate": 1, "serious": 2, "critical": 3}

# Let tasks already queued on the page (timers at 0 set while loading or by a
# click handler) run, and the events they raise reach us, before a check reads
# what the page reported: CDP delivers events before the answer to this call.
# A wait on the page's event loop, not a sleep.
_SETTLE = "() => new Promise(r => setTimeout(r, 0))"
ANSWER_WAIT_MS = 5000  # at most, per action, for the requests it started to end
CHANGE_WAIT_MS = 5000  # at most, for what a click or submit changes to show


def status_matches(status: int, expected: s.StatusClass | s.Denied) -> bool:
    if expected == "denied":
        return 300 <= status < 500
    return str(status)[0] == expected[0]


def describe(step: s.Step) -> str:
    """A short human sentence for a step, shown in reports."""
    target = getattr(step, "target", None)
    where = target.describe() if target is not None else ""
    match step:
        case s.Goto():
            return f"go to {step.url}"
        case s.Fill():
            return f"fill {where} with {step.value!r}"
        case s.Select():
            return f"select {step.value!r} in {where}"
        case s.Press():
            return f"press {step.key} in {where}"
        case s.ExpectText():
            return f"expect {where} to contain {step.text!r}"
        case s.ExpectUrl():
            return f"expect URL {'containing ' if step.contains else ''}{step.url}"
        case s.ExpectTitle():
            return f"expect title {'containing ' if step.contains else ''}{step.title!r}"
        case s.ExpectStatus() if step.status == "denied":
            return f"expect {step.url} to be denied (3xx or 4xx)"
        case s.ExpectStatus():
            return f"expect {step.url} to answer {step.status}"
        case s.CheckAccessibility():
            return f"check accessibility (impact >= {step.min_impact})"
        case s.CheckPerformance():
            return "check performance against budgets"
        case s.CheckVisual():
            return f"compare {step.name!r} with its visual baseline"
        case s.ApiRequest():
            return f"{step.method} {step.url} (API)"
    return f"{step.action.replace('_', ' ')} {where}".strip()


def run_step(page: Page, step: s.Step, base_url: str, seen: Observed, timeout_ms: float) -> None:
    """Perform one step; raise StepFailed when its expectation does not hold."""
    from playwright.sync_api import expect

    match step:
        case s.Goto():
            seen.loaded()
            _goto(page, step, base_url, timeout_ms)
        case s.Click():
            seen.mark_action(page, describe(step))
            resolve(page, step.target).click(timeout=timeout_ms)
            settle(page)
        case s.Fill():
            value = seen.fill(step.value, to=page.url, into=step.target)
            resolve(page, step.target).fill(value, timeout=timeout_ms)
        case s.Select():
            value = seen.fill(step.value, to=page.url, into=step.target)
            resolve(page, step.target).select_option(value, timeout=timeout_ms)
        case s.Check():
            resolve(page, step.target).check(timeout=timeout_ms)
        case s.Press():
            seen.mark_action(page, describe(step))
            resolve(page, step.target).press(step.key, timeout=timeout_ms)
        case s.Submit():
            seen.mark_action(page, describe(step))
            _submit(page, resolve(page, step.target), timeout_ms)
        case s.ExpectVisible():
            expect(resolve(page, step.target)).to_be_visible(timeout=timeout_ms)
        case s.WaitFor():
            resolve(page, step.target).wait_for(state="visible", timeout=timeout_ms)
        case s.ExpectText():
            expect(resolve(page, step.target)).to_contain_text(step.text, timeout=timeout_ms)
        case s.ExpectUrl():
            wanted = (
                re.compile(re.escape(step.url)) if step.contains else urljoin(base_url, step.url)
            )
            expect(page).to_have_url(wanted, timeout=timeout_ms)
        case s.ExpectTitle():
            title = re.compile(re.escape(step.title)) if step.contains else step.title
            expect(page).to_have_title(title, timeout=timeout_ms)
        case s.ExpectStatus():
            _expect_status(page, step, base_url, timeout_ms)
        case s.ExpectNoConsoleErrors():
            _answered(page, seen, timeout_ms, every=False)
            _none("console error", seen.console_since(step.since_last_action))
        case s.ExpectNoPageErrors():
            _answered(page, seen, timeout_ms, every=False)
            _none("uncaught page error", seen.page_since(step.since_last_action))
        case s.ExpectNoFailedRequests():
            _answered(page, seen, timeout_ms)
            found = seen.requests_since(step.since_last_action)
            _none("failed request", [r for r in found if r.status not in step.answers])
        case s.ExpectNoServerErrors():
            _answered(page, seen, timeout_ms)
            found = seen.requests_since(step.since_last_action)
            _none("server error", [r for r in found if (r.status or 0) >= 500])
        case s.ExpectChange():
            settle(page)
            unchanged = seen.unchanged(page, min(timeout_ms, CHANGE_WAIT_MS))
            if unchanged is not None:
                raise StepFailed(unchanged)
        case s.ExpectContent():
            text = page.locator("body").inner_text(timeout=timeout_ms)
            if not text.strip():
                raise StepFailed(f"{page.url} shows no visible text")
        case s.CheckAccessibility():
            _check_accessibility(page, step, seen)
        case s.CheckPerformance():
            _check_performance(page, step, seen, timeout_ms)
        case s.CheckVisual():
            _check_visual(page, step, seen, timeout_ms)
        case s.ApiRequest():
            _api_request(page, step, base_url, seen, timeout_ms)


def _goto(page: Page, step: s.Goto, base_url: str, timeout_ms: float) -> None:
    url = urljoin(base_url, step.url)
    quiet = step.wait_until == "networkidle"
    wait = "load" if quiet else step.wait_until
    response = page.goto(url, wait_until=wait, timeout=timeout_ms)
    if quiet:
        wait_quiet(page, min(timeout_ms, 5000))
    expected = step.expect_status
    if response is not None and expected and not status_matches(response.status, expected):
        raise StepFailed(
            describe_refusal(url, response.headers)
            or f"{url} answered HTTP {response.status}, expected {expected}"
        )


def _fill_deep(value: Any, seen: Observed, to: str) -> Any:
    if isinstance(value, str):
        return seen.fill(value, to=to)
    if isinstance(value, dict):
        return {k: _fill_deep(v, seen, to) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_deep(v, seen, to) for v in value]
    return value


def _check_performance(
    page: Page, step: s.CheckPerformance, seen: Observed, timeout_ms: float
) -> None:
    """Judge one load; a load over budget is measured twice more and judged on the median.

    One noisy load on a busy machine (a long task from another test's CPU use)
    must not fail a page, and a page that is slow every time fails every time.
    """
    metrics = judge(measure(page, timeout_ms), step.budgets)
    if metrics.over_budget:
        samples = [metrics]
        for _ in range(PERF_SAMPLES - 1):
            page.goto(metrics.url, wait_until="load", timeout=timeout_ms)
            samples.append(measure(page, timeout_ms))
        metrics = judge(median_metrics(samples), step.budgets)
    seen.performance.append(metrics)
    if metrics.over_budget:
        raise Conclusive(
            f"{metrics.url} is over budget (median of {PERF_SAMPLES} loads): "
            + "; ".join(metrics.over_budget)
        )


def _check_visual(page: Page, step: s.CheckVisual, seen: Observed, timeout_ms: float) -> None:
    env = seen.visual_env
    if env is None:
        raise StepFailed("visual checks need a baselines folder (none was configured)")
    try:
        found = check(
            page,
            step,
            env.key(step.name),
            env.baselines_root,
            env.artifacts_root,
            f"{env.stem}-{step.name}",
            timeout_ms,
            seen.masks(page),
        )
    except VisualChanged as exc:
        seen.visual.append(exc.check)
        raise
    seen.visual.append(found)


def _api_request(
    page: Page, step: s.ApiRequest, base_url: str, seen: Observed, timeout_ms: float
) -> None:
    carries_secret = bool(referenced_names([step.headers, step.body]))
    if seen.secrets or "{{" in json.dumps([step.headers, step.body]):
        to = urljoin(base_url, step.url)
        step = step.model_copy(
            update={
                "headers": {k: seen.fill(v, to=to) for k, v in step.headers.items()},
                "body": _fill_deep(step.body, seen, to),
            }
        )
    try:
        # A request carrying a secret follows no redirect: the next hop may be anywhere.
        found = run_api_request(page, step, base_url, timeout_ms, follow=not carries_secret)
        seen.api.append(found)
    except ApiStepFailed as exc:
        seen.api.append(exc.check)
        raise


def settle(page: Page) -> None:
    page.evaluate(_SETTLE)


def _answered(page: Page, seen: Observed, timeout_ms: float, every: bool = True) -> None:
    """Wait for what the last action asked the network, then for the page to handle it.

    ``every`` False: only for the answers script handles (console and page errors).
    """
    seen.await_answers(page, min(timeout_ms, ANSWER_WAIT_MS), every)
    settle(page)


def _submit(page: Page, control: Locator, timeout_ms: float) -> None:
    control.click(timeout=timeout_ms)
    page.wait_for_load_state("load", timeout=timeout_ms)
    # A JS-handled form answers over fetch: give the network a moment to go quiet.
    wait_quiet(page, min(timeout_ms, 5000))
    settle(page)


def _expect_status(page: Page, step: s.ExpectStatus, base_url: str, timeout_ms: float) -> None:
    url = urljoin(base_url, step.url)
    response = page.request.get(
        url,
        timeout=timeout_ms,
        fail_on_status_code=False,
        max_redirects=None if step.follow_redirects else 0,
    )
    try:
        if not status_matches(response.status, step.status):
            wanted = "it denied (3xx or 4xx)" if step.status == "denied" else step.status
            raise StepFailed(
                describe_refusal(url, response.headers)
                or f"{url} answered HTTP {response.status}, expected {wanted}"
            )
        ctype = response.headers.get("content-type", "")
        if step.content_type and not ctype.startswith(step.content_type):
            raise StepFailed(
                f"{url} answered {ctype or 'no content type'}, expected {step.content_type}"
            )
    finally:
        response.dispose()


def _check_accessibility(page: Page, step: s.CheckAccessibility, seen: Observed) -> None:
    from axe_playwright_python.sync_playwright import Axe

    settle(page)
    response = Axe().run(page).response
    floor = IMPACT_ORDER[step.min_impact]
    found = [
        Violation(
            rule=str(v.get("id", "")),
            impact=v.get("impact") if v.get("impact") in IMPACT_ORDER else None,
            nodes=len(v.get("nodes", [])),
            description=str(v.get("help") or v.get("description") or "")[:500],
            help_url=str(v.get("helpUrl")) if v.get("helpUrl") else None,
        )
        for v in response.get("violations", [])
        if IMPACT_ORDER.get(str(v.get("impact")), 3) >= floor
    ]
    seen.violations = found
    if found:
        listed = ", ".join(f"{v.rule} ({v.impact or 'unknown'}, {v.nodes} nodes)" for v in found)
        raise StepFailed(f"{len(found)} accessibility violation(s): {listed}")


def _none(what: str, found: list[Reported] | list[FailedRequest]) -> None:
    """Fail, listing what was found and the action it followed, when anything was."""
    if found:
        raise StepFailed(_listing(what, [_evidence(r) for r in found], [r.after for r in found]))


def _evidence(item: Reported | FailedRequest) -> str:
    if isinstance(item, Reported):
        return item.text
    what = f"HTTP {item.status}" if item.status is not None else (item.failure or "failed")
    return f"{item.method} {item.url} -> {what}"


def _listing(what: str, items: list[str], after: list[str | None] | None = None) -> str:
    """``N whats[ after ACTION]:``, then one item a line (ten at most).

    Items that followed different actions each name theirs.
    """
    causes = set(after or [None])
    one = next(iter(causes)) if len(causes) == 1 else None
    if after and len(causes) > 1:
        items = [f"{item} (after {a})" if a else item for item, a in zip(items, after, strict=True)]
    shown = "\n".join(f"  {item}" for item in items[:10])
    more = f"\n  … and {len(items) - 10} more" if len(items) > 10 else ""
    header = f"{len(items)} {what}{'s' if len(items) != 1 else ''}"
    return f"{header}{f' after {one}' if one else ''}:\n{shown}{more}"
