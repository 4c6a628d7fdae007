"""The healer: a new locator for a test whose element is gone, proposed for review.

Only a failure triaged as UI drift (a step found no element to use) is healed.
For the failed step the healer tries, in order:

1. the other locators stored with the step (written when the test was, from
   the same element: role, label, text, test id), those that now match
   exactly one element on the page as the test reaches it;
2. one small model call: the step and the page as it is now (untrusted
   data, secrets redacted), answered with one locator, validated by the same
   strict schema and required to match exactly one element.

The test is then run again with the proposal. When it passes, or gets past the
healed step and drifts again further on (up to three steps), the proposal is
returned for review, with how the re-run went. Nothing else is touched: the
test's own result stands, no step is skipped or marked expected-to-fail, and
no value or expectation changes, only where steps look (``spec.retarget``).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from matf.agents.executor import Environment, context_keywords, run_test
from matf.agents.triage import classify
from matf.browser.errors import BrowserCrashed, StepFailed, first_line, playwright_errors
from matf.browser.page import matching, resolve
from matf.browser.steps import Observed, origin_of, run_step
from matf.results import Healing, LocatorChange, TestResult
from matf.spec import TARGETED, Locator, TestSpec, retarget, same_but_locators

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from matf.llm.gateway import Completion

log = logging.getLogger("matf.healer")

MAX_HEALED_STEPS = 3
MAX_TRIES = 3  # re-runs per step
SNAPSHOT_TOKENS = 1500  # "one small call": the page trimmed to this
# Steps that only check: a replay to the failure point does not need them.
_CHECKS = ("expect_", "check_accessibility", "check_performance", "check_visual")
T = TypeVar("T")


class _Stop(Exception):
    """Healing cannot go on; the message says why."""


@dataclass
class _Run:
    """What healing one test needs to run it again."""

    browser: str
    run_id: str
    env: Environment  # re-runs keep no retries, and their evidence goes away with them
    ask: Callable[[list[dict[str, str]]], Completion] | None
    rejected: Sequence[LocatorChange] = ()  # changes a person refused for this test before
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_trouble: str | None = None  # why the model gave no answer, when it gave none

    def execute(self, spec: TestSpec) -> TestResult:
        return run_test(spec, self.browser, f"{self.run_id}-heal", self.env)


def heal(
    spec: TestSpec,
    result: TestResult,
    env: Environment,
    ask: Callable[[list[dict[str, str]]], Completion] | None = None,
    rejected: Sequence[LocatorChange] = (),
) -> Healing | None:
    """A proposal for ``result`` (of ``spec``) when it failed by UI drift, else None.

    ``ask`` sends messages to the model (``MistralGateway.complete``); without
    it only the stored alternatives are tried. ``rejected``: changes reviewers
    refused for this test; a step is never healed to a locator refused for it.
    """
    triage = classify(result)
    if triage is None or triage[0] != "ui-drift":
        return None
    with tempfile.TemporaryDirectory(prefix="matf-heal-") as scratch:
        quiet = replace(env, limits=replace(env.limits, retries=0), artifacts_root=Path(scratch))
        job = _Run(result.browser, result.run_id, quiet, ask, tuple(rejected))
        return _heal(job, spec, result)


def _heal(job: _Run, spec: TestSpec, result: TestResult) -> Healing:
    current, outcome = spec, result
    changes: list[LocatorChange] = []
    try:
        while True:
            index = _failed_step(outcome)
            if len(changes) == MAX_HEALED_STEPS:
                raise _Stop(f"more than {MAX_HEALED_STEPS} steps lost their element")
            current, change, outcome = _heal_step(job, current, index)
            changes.append(change)
            if outcome.status in ("passed", "flaky"):
                return _healing(job, "passed", changes, current)
            later = _failed_step(outcome)
            if not (_drifted(outcome) and later > index):
                return _healing(job, "failed", changes, current, outcome.error)
    except _Stop as stop:
        if changes:
            return _healing(job, "failed", changes, current, str(stop))
        return _healing(job, "none", [], None, str(stop))


def _heal_step(job: _Run, spec: TestSpec, index: int) -> tuple[TestSpec, LocatorChange, TestResult]:
    """The spec with step ``index`` retargeted so that it runs, the change, and the re-run."""
    step = spec.steps[index]
    if not isinstance(step, TARGETED):
        raise _Stop(f"step {index + 1} ({step.action}) looks for no element")
    old = step.target
    tried = [old]
    before = old.model_dump(mode="json", exclude_none=True)
    refused = [
        Locator.model_validate(c.after)
        for c in job.rejected
        if c.step == index and c.action == step.action and c.before == before
    ]
    for source in ("alternative", "ai"):
        if source == "ai" and job.ask is None:
            break
        look = partial(
            _candidates, job, spec=spec, index=index, source=source, tried=tried, refused=refused
        )
        found = _at_step(job, spec, index, look)
        for candidate in found[:MAX_TRIES]:
            trial = retarget(spec, index, candidate)
            assert same_but_locators(spec, trial)  # healing changes where, never what
            rerun = job.execute(trial)
            tried.append(candidate)
            if rerun.status in ("passed", "flaky") or _failed_step(rerun) > index:
                change = LocatorChange(
                    step=index,
                    action=step.action,
                    before=old.model_dump(mode="json", exclude_none=True),
                    after=candidate.model_dump(mode="json", exclude_none=True),
                    source=source,  # type: ignore[arg-type]
                )
                return trial, change, rerun
    how = "no stored alternative matched one element"
    if job.ask is None:
        how += " (and the model was not asked: no MISTRAL_API_KEY, or AI turned off)"
    elif job.model_trouble is not None:
        how += f" (and the model gave no locator: {job.model_trouble})"
    elif job.calls:
        how += ", nor did the model's locator"
    if refused:
        how += f"; {len(refused)} locator(s) rejected in review are not proposed again"
    raise _Stop(f"step {index + 1} ({step.action} {old.describe()}): {how}")


def _candidates(
    job: _Run,
    page: Page,
    spec: TestSpec,
    index: int,
    source: str,
    tried: list[Locator],
    refused: list[Locator],
) -> list[Locator]:
    """Locators that match exactly one element on ``page`` now, from ``source``."""
    step = spec.steps[index]
    if source == "alternative":
        stored = getattr(step, "alternatives", None) or []
        stored = [loc for loc in stored if loc not in tried and loc not in refused]
        return [loc for loc in stored if _matches_one(page, loc)]
    proposed = _ask_model(job, page, spec, index, tried, refused)
    return [proposed] if proposed is not None else []


def _ask_model(
    job: _Run,
    page: Page,
    spec: TestSpec,
    index: int,
    tried: list[Locator],
    refused: list[Locator],
) -> Locator | None:
    """The model's locator for the step, when it is valid and matches one element."""
    from matf.llm.gateway import LlmError
    from matf.llm.grounding import redact, snapshot, trimmed
    from matf.llm.prompts import heal_messages

    assert job.ask is not None
    snap = redact(snapshot(page, job.env.limits.step_timeout_ms), job.env.secrets)
    step = spec.steps[index].model_dump(mode="json", exclude_none=True)
    messages = heal_messages(
        step,
        [loc.model_dump(mode="json", exclude_none=True) for loc in tried],
        trimmed(snap, SNAPSHOT_TOKENS),
        origin_of(spec.url),
        [loc.model_dump(mode="json", exclude_none=True) for loc in refused],
    )
    try:
        completion = job.ask(messages)
    except LlmError as exc:  # refused, unreachable, or the run's budget is spent
        log.info("healer: no answer from the model: %s", exc.message)
        job.model_trouble = exc.message
        return None
    job.model_trouble = None
    job.calls += completion.attempts
    job.prompt_tokens += completion.prompt_tokens
    job.completion_tokens += completion.completion_tokens
    try:
        answer = json.loads(completion.text)
        target = answer.get("target") if isinstance(answer, dict) else None
        proposed = Locator.model_validate(target) if target is not None else None
    except (json.JSONDecodeError, ValidationError) as exc:
        log.info("healer: the model's answer is not a locator: %s", first_line(str(exc)))
        return None
    if proposed is None or proposed in tried or proposed in refused:
        return None
    if not _matches_one(page, proposed):
        return None
    return proposed


def _at_step(job: _Run, spec: TestSpec, index: int, inspect: Callable[[Page], T]) -> T:
    """``inspect`` the page as the test reaches step ``index`` (its actions replayed)."""
    options = context_keywords(spec, job.browser, job.env)
    context = job.env.pool.browser(job.browser).new_context(**options)
    try:
        page = context.new_page()
        seen = Observed.for_spec(spec, job.env.secrets)
        seen.attach(page)
        for number, step in enumerate(spec.steps[:index], start=1):
            if step.action.startswith(_CHECKS):
                continue
            try:
                with playwright_errors():
                    run_step(page, step, spec.url, seen, job.env.limits.step_timeout_ms)
            except (StepFailed, BrowserCrashed) as exc:
                raise _Stop(f"step {number} did not run again: {first_line(str(exc))}") from exc
        return inspect(page)
    finally:
        context.close()


def _matches_one(page: Page, locator: Locator) -> bool:
    from playwright.sync_api import Error as PlaywrightError

    try:
        found = matching(page, locator) if locator.nth is None else resolve(page, locator)
        return found.count() == 1
    except PlaywrightError:  # a css the browser rejects, say
        return False


def _failed_step(result: TestResult) -> int:
    failed = next((step for step in result.steps if step.status == "failed"), None)
    return failed.index if failed is not None else len(result.steps)


def _drifted(result: TestResult) -> bool:
    triage = classify(result)
    return triage is not None and triage[0] == "ui-drift"


def _healing(
    job: _Run,
    outcome: str,
    changes: list[LocatorChange],
    spec: TestSpec | None,
    error: str | None = None,
) -> Healing:
    return Healing(
        outcome=outcome,  # type: ignore[arg-type]
        changes=changes,
        error=" ".join(error.split())[:500] if error else None,
        spec=spec.model_dump(mode="json", exclude_none=True) if spec is not None else None,
        calls=job.calls,
        prompt_tokens=job.prompt_tokens,
        completion_tokens=job.completion_tokens,
    )
