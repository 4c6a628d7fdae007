"""The AI test writer: per page, Mistral proposes; the platform checks and verifies.

For each explored page (up to ``max_pages``): a snapshot of what it shows
(untrusted data, secrets redacted) is fingerprinted; a cached answer for the
same (fingerprint, model, prompt version, goals) costs no call; otherwise the
model is asked within the run's call and token budgets, and its answer is
checked and repaired once (``matf.ai.proposals``). Every proposed test is then
run once against the live site before it is kept:

- it passes: a verified test;
- an assertion (an ``expect_*`` step) fails while every action before it ran:
  kept only as a *finding*, named and tagged so, with its first run's error;
- an action or navigation fails: dropped, with the reason (a broken test is
  never saved).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from pydantic import ValidationError

from matf.agents.executor import Environment, run_test
from matf.agents.explore import normalize
from matf.ai.proposals import Proposal, propose
from matf.browser.guard import context_options
from matf.browser.steps import origin_of
from matf.llm.budget import Allowance
from matf.llm.gateway import LlmError, MistralGateway
from matf.llm.grounding import fingerprint, redact, snapshot, trimmed
from matf.llm.prompts import PROMPT_VERSION, page_messages
from matf.netguard import NetworkPolicy
from matf.options import AiOptions
from matf.settings import llm_cost_usd
from matf.spec import MAX_ALTERNATIVES, TARGETED, Goto, Locator, TestSpec
from matf.storage.db import Sessions
from matf.storage.llm_cache import answer_key, cached_answer, store_answer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from matf.agents.explore import PageInfo, SiteMap
    from matf.browser.pool import BrowserPool
    from matf.settings import Settings

log = logging.getLogger("matf.ai")

FINDING_TAG = "finding"
VERIFIED_TAG = "ai"


MAX_PAGES = 10  # pages the model is asked about, first explored first
TESTS_PER_PAGE = 5  # proposals asked for per page
PAGE_TOKENS = 3000  # each page's snapshot is trimmed to this


@dataclass
class AiUsage:
    """Calls and tokens of one run's writing, and what became of the proposals."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pages: int = 0
    cached_pages: int = 0
    proposed: int = 0
    verified: int = 0
    findings: int = 0
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # pages not asked, and why
    # Per kept test: its share of the calls and tokens of the page answer it came from.
    tests: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, proposal: Proposal) -> None:
        self.calls += proposal.calls
        self.prompt_tokens += proposal.prompt_tokens
        self.completion_tokens += proposal.completion_tokens

    def cost_usd(self, settings: Settings) -> float:
        return round(
            llm_cost_usd(self.prompt_tokens, self.completion_tokens, settings.llm_prices), 6
        )

    def as_dict(self, settings: Settings) -> dict[str, Any]:
        return {
            "model": settings.mistral_model,
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd(settings),
            "pages": self.pages,
            "cached_pages": self.cached_pages,
            "proposed": self.proposed,
            "verified": self.verified,
            "findings": self.findings,
            "dropped": self.dropped[:50],
            "skipped": self.skipped[:50],
            "tests": self.tests,
        }

    def share(self, specs: list[TestSpec], calls: int, prompt: int, completion: int) -> None:
        """Attribute one page's spending evenly to the tests kept from its answer."""
        if not specs or not (calls or prompt or completion):  # a cached answer costs nothing
            return
        n = len(specs)
        for spec in specs:
            self.tests[spec.id] = {
                "calls": round(calls / n, 3),
                "prompt_tokens": prompt // n,
                "completion_tokens": completion // n,
            }


def write_with_ai(
    site: SiteMap,
    settings: Settings,
    env: Environment,
    db: Sessions,
    options: AiOptions,
    run_id: str,
) -> tuple[list[TestSpec], AiUsage]:
    """Verified tests and findings for the explored pages, and what it cost.

    ``env`` is what proposals are verified with (each runs once, without
    retries); its secrets (name to value) are redacted from snapshots, and only
    their names reach the model. ``db(write)`` opens a session for the answer cache.
    """
    env = replace(env, limits=replace(env.limits, retries=0))
    usage = AiUsage()
    gateway = MistralGateway(settings)
    origin = origin_of(site.start)
    kept: list[TestSpec] = []
    try:
        for page_url in [page.url for page in site.pages][:MAX_PAGES]:
            before = (usage.calls, usage.prompt_tokens, usage.completion_tokens)
            specs = _page_specs(page_url, origin, settings, env, gateway, db, options, usage)
            specs = [grounded_alternatives(spec, site) for spec in specs]
            usage.proposed += len(specs)
            page_kept: list[TestSpec] = []
            for spec in specs:
                verdict, reason = _verify(spec, env, run_id)
                if reason is not None:
                    usage.dropped.append(f"{spec.id}: {reason}")
                if verdict is not None:
                    page_kept.append(verdict)
                    if FINDING_TAG in verdict.tags:
                        usage.findings += 1
                    else:
                        usage.verified += 1
            usage.share(
                [s for s in page_kept if s.id not in usage.tests],
                usage.calls - before[0],
                usage.prompt_tokens - before[1],
                usage.completion_tokens - before[2],
            )
            kept += page_kept
    finally:
        gateway.close()
    # Two pages may propose the same test (a shared header, say): keep the first.
    first: dict[str, TestSpec] = {}
    for spec in kept:
        first.setdefault(spec.id, spec)
    return list(first.values()), usage


def _page_specs(
    url: str,
    origin: str,
    settings: Settings,
    env: Environment,
    gateway: MistralGateway,
    db: Sessions,
    options: AiOptions,
    usage: AiUsage,
) -> list[TestSpec]:
    secrets = env.secrets
    state = env.login.state if env.login is not None else None
    snap = _snapshot(env.pool, url, settings.step_timeout, env.network, state)
    if snap is None:
        usage.skipped.append(f"{url}: could not be read")
        return []
    snap = redact(snap, dict(secrets))
    usage.pages += 1
    key = answer_key(fingerprint(snap), settings.mistral_model, PROMPT_VERSION, options.goals)
    with db(False) as session:
        found = cached_answer(session, key)
    if found is not None:
        usage.cached_pages += 1
        return found[0]
    caps = Allowance(options.max_calls, options.max_tokens)
    reason = caps.refusal(usage.calls, usage.prompt_tokens + usage.completion_tokens)
    if reason is not None:
        usage.skipped.append(f"{url}: {reason}")
        return []
    messages = page_messages(
        trimmed(snap, PAGE_TOKENS),
        origin,
        list(options.goals),
        sorted(secrets),
        TESTS_PER_PAGE,
    )
    # A repair round is a second call: only when the budget has room for it.
    repair = options.max_calls is None or usage.calls + 2 <= options.max_calls
    try:
        proposal = propose(gateway.complete, messages, origin, sorted(secrets), repair)
    except LlmError as exc:
        usage.skipped.append(f"{url}: {exc.message}")
        return []
    usage.add(proposal)
    usage.dropped += [f"{url}: {reason}" for reason in proposal.dropped]
    with db(True) as session:
        store_answer(
            session,
            key,
            model=settings.mistral_model,
            prompt_version=PROMPT_VERSION,
            url=url,
            specs=proposal.specs,
            dropped=proposal.dropped,
            prompt_tokens=proposal.prompt_tokens,
            completion_tokens=proposal.completion_tokens,
        )
    return proposal.specs


def _snapshot(
    pool: BrowserPool,
    url: str,
    timeout_ms: int,
    network: NetworkPolicy | None,
    state: dict[str, Any] | None = None,
) -> Any:
    """The page as the model is shown it: signed in when the run is (the state stays here)."""
    from playwright.sync_api import Error as PlaywrightError

    from matf.browser.page import wait_quiet

    context = pool.browser("chromium").new_context(**context_options(network, storage_state=state))
    try:
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=timeout_ms)
        wait_quiet(page, min(timeout_ms, 3000))
        return snapshot(page, timeout_ms)
    except PlaywrightError as exc:
        log.info("could not snapshot %s: %s", url, (exc.message or str(exc)).splitlines()[0])
        return None
    finally:
        context.close()


def _verify(spec: TestSpec, env: Environment, run_id: str) -> tuple[TestSpec | None, str | None]:
    """Run the proposal once: a verified test, a finding, or why it was dropped."""
    result = run_test(spec, "chromium", f"{run_id}-verify", env)
    if result.status == "passed":
        return spec.model_copy(update={"tags": _tags(spec, VERIFIED_TAG)}), None
    failed = next((step for step in result.steps if step.status == "failed"), None)
    if result.status == "failed" and failed is not None and failed.action.startswith("expect_"):
        finding = spec.model_copy(
            update={
                "name": f"Finding: {spec.name}"[:300],
                "tags": _tags(spec, VERIFIED_TAG, FINDING_TAG),
            }
        )
        return finding, None
    first = " ".join((result.error or result.status).split())[:300]
    return None, f"it did not run on the live site: {first}"


def grounded_alternatives(spec: TestSpec, site: SiteMap) -> TestSpec:
    """``spec`` with each step's alternatives from exploration, never from the model.

    The healer trusts a step's alternatives to find the same element as its
    target, and nothing shows that the model's do. A step whose target is a
    locator exploration recorded on the page the step runs on (its test's
    last ``goto``) gets the locators exploration proved find that element;
    any other step gets none (the healer then asks the model, for review).
    """
    pages = {normalize(page.url): page for page in site.pages}
    url = spec.url
    steps = []
    for step in spec.steps:
        if isinstance(step, Goto):
            url = urljoin(url, step.url)
        elif isinstance(step, TARGETED):
            page = pages.get(normalize(url))
            found = _explored_alternatives(page, step.target) if page is not None else []
            step = step.model_copy(update={"alternatives": found or None})
        steps.append(step)
    return spec.model_copy(update={"steps": steps})


def _explored_alternatives(page: PageInfo, target: Locator) -> list[Locator]:
    wanted = target.model_dump(mode="json", exclude_none=True)
    for chosen, others in page.alternatives.items():
        try:
            if _locator(json.loads(chosen)) == wanted:
                return [Locator.model_validate(other) for other in others][:MAX_ALTERNATIVES]
        except (ValueError, ValidationError):  # exploration's own data: skip what is odd
            continue
    return []


def _locator(data: dict[str, Any]) -> dict[str, Any]:
    return Locator.model_validate(data).model_dump(mode="json", exclude_none=True)


def _tags(spec: TestSpec, *extra: str) -> list[str]:
    return list(dict.fromkeys([*spec.tags, *extra]))[:20]


def target_secrets(session: Session, settings: Settings, url: str) -> dict[str, str]:
    """The target's secrets by name (``NAME`` or ``NAME.field``), to redact from snapshots.

    Without ``ENCRYPTION_KEY`` none can be read, and none is offered to the model.
    """
    from matf.errors import ConfigError
    from matf.secrets.keyring import keyring_from_settings
    from matf.secrets.store import get_secret, list_secrets, normalize_origin

    origin = normalize_origin(url)
    infos = list_secrets(session, origin)
    if not infos:
        return {}
    try:
        keyring = keyring_from_settings(settings)
    except ConfigError:
        log.info("the target has secrets but ENCRYPTION_KEY is not set: none is used")
        return {}
    found: dict[str, str] = {}
    for info in infos:
        value = get_secret(session, keyring, origin, info.name)
        plain = value.reveal() if value is not None else None
        if isinstance(plain, str):
            found[info.name] = plain
        elif isinstance(plain, dict):
            found |= {f"{info.name}.{k}": str(v) for k, v in plain.items() if isinstance(v, str)}
    return found
