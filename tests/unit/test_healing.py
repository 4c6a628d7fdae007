"""The healer in real Chromium: stored alternatives first, then one small model call.

A sign-up page is redesigned under a test written for its first version
(``tests.drift_site``). The healer must find the elements again, prove it by
re-running the test, and propose only new locators: never a skipped step,
never a changed value or expectation, never anything the page asks for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.explore import explore
from matf.agents.healer import heal
from matf.agents.writer import write_specs
from matf.ai.writer import grounded_alternatives
from matf.browser.pool import BrowserPool
from matf.errors import Conflict
from matf.llm.budget import Allowance, LocalLedger, budgeted
from matf.llm.gateway import Completion, MistralGateway
from matf.llm.prompts import CLOSE_MARKER, OPEN_MARKER
from matf.options import RunOptions
from matf.pipeline.fanout import ExecutorJob
from matf.results import Healing, LocatorChange, TestResult
from matf.spec import TestSpec, parse_spec, same_but_locators
from matf.storage.db import get_engine, session_scope
from matf.storage.healing import apply_changes
from matf.storage.models import HealingProposal
from matf.storage.runs import create_run, save_cases
from tasks.canvas import fan_out
from tests.conftest import make_settings
from tests.drift_site import INJECTION, DriftSite
from tests.mistral_server import FakeMistral

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=3_000, retries=0)
SECRET = "ann.private@example.com"


@pytest.fixture
def site() -> Iterator[DriftSite]:
    with DriftSite(version=1) as server:
        yield server


def _written(site: DriftSite, pool: BrowserPool) -> TestSpec:
    """The heuristic writer's form test for version 1, as a user would have saved it."""
    found = explore(site.url, pool.browser("chromium"), 1, 5_000)
    [form] = [s for s in write_specs(found, ["functional"]) if s.category == "form"]
    return form


def _journey(url: str) -> TestSpec:
    """A journey whose value is a secret placeholder and whose expectation is exact."""
    return parse_spec(
        {
            "id": "signup",
            "name": "A visitor signs up",
            "url": url,
            "steps": [
                {"action": "goto", "url": url},
                {
                    "action": "fill",
                    "target": {"label": "Email"},
                    "alternatives": [{"test_id": "email-field"}],
                    "value": "{{secret:EMAIL}}",
                },
                {
                    "action": "click",
                    "target": {"role": "button", "name": "Subscribe"},
                    "alternatives": [{"test_id": "subscribe"}],
                },
                {
                    "action": "expect_text",
                    "target": {"role": "status"},
                    "text": f"Thanks for subscribing, {SECRET}",
                },
            ],
        }
    )


def _env(pool: BrowserPool, tmp_path: Path, **extra: Any) -> Environment:
    return Environment(pool, LIMITS, tmp_path, **extra)


def _run(spec: TestSpec, pool: BrowserPool, tmp_path: Path, **extra: Any) -> TestResult:
    return run_test(spec, "chromium", "r-heal", _env(pool, tmp_path, **extra))


Ask = Callable[[list[dict[str, str]]], Completion]


def _heal_asking(
    spec: TestSpec,
    result: TestResult,
    pool: BrowserPool,
    tmp_path: Path,
    answer: Callable[[dict[str, Any]], str],
    times: int = 1,
    wrap: Callable[[Ask], Ask] = lambda ask: ask,
    **extra: Any,
) -> tuple[list[Healing | None], list[dict[str, Any]]]:
    """Heal ``times`` with the real client asking a local model that answers ``answer``.

    Returns the healings and the request bodies the model received.
    """
    with FakeMistral(responder=answer) as fake:
        settings = make_settings(tmp_path, mistral_api_key="k", mistral_server_url=fake.url)
        gateway = MistralGateway(settings)
        try:
            ask = wrap(gateway.complete)
            healings = [
                heal(
                    spec, result, _env(pool, tmp_path, secrets={"EMAIL": SECRET}), ask=ask, **extra
                )
                for _ in range(times)
            ]
        finally:
            gateway.close()
        return healings, [body for _headers, body in fake.requests]


def test_the_writer_stores_other_locators_of_the_same_element(
    site: DriftSite, pool: BrowserPool
) -> None:
    form = _written(site, pool)
    fill = next(step for step in form.steps if step.action == "fill")
    submit = next(step for step in form.steps if step.action == "submit")
    assert fill.target.label == "Email"  # type: ignore[union-attr]
    assert {"test_id": "email-field"} in [
        a.model_dump(exclude_none=True, exclude={"exact"})
        for a in fill.alternatives or []  # type: ignore[union-attr]
    ]
    assert submit.target.model_dump(exclude_none=True) == {  # type: ignore[union-attr]
        "role": "button",
        "name": "Subscribe",
        "exact": True,
    }
    assert {"test_id": "subscribe"} in [
        a.model_dump(exclude_none=True, exclude={"exact"})
        for a in submit.alternatives or []  # type: ignore[union-attr]
    ]


def test_stored_alternatives_heal_two_drifted_steps_and_the_rerun_passes(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    form = _written(site, pool)
    site.version = 2
    result = _run(form, pool, tmp_path)
    assert result.status == "failed" and "Email" in (result.error or "")

    healing = heal(form, result, _env(pool, tmp_path))

    assert healing is not None and healing.outcome == "passed", healing
    assert [(c.action, c.source) for c in healing.changes] == [
        ("fill", "alternative"),
        ("submit", "alternative"),
    ]
    assert healing.changes[0].before == {"label": "Email", "exact": True}
    assert healing.changes[1].after == {"test_id": "subscribe", "exact": True}
    assert healing.calls == 0 and healing.prompt_tokens == 0
    healed = parse_spec(healing.spec)
    assert same_but_locators(form, healed)  # every value and expectation as written
    assert healed.steps[1].alternatives[0].label == "Email"  # type: ignore[union-attr,index]
    assert _run(healed, pool, tmp_path).status == "passed"
    assert result.status == "failed" and result.healing is None  # the verdict stands


def test_the_model_finds_what_no_alternative_can_and_never_sees_a_secret(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _journey(site.url)
    site.version = 3
    secrets = {"EMAIL": SECRET}
    result = _run(spec, pool, tmp_path, secrets=secrets)
    assert result.status == "failed"

    def answer(request: dict[str, Any]) -> str:
        return json.dumps({"target": {"role": "button", "name": "Sign me up"}})

    [healing], bodies = _heal_asking(spec, result, pool, tmp_path, answer)
    requests = [json.dumps(body) for body in bodies]

    assert healing is not None and healing.outcome == "passed", healing
    assert [(c.step, c.source) for c in healing.changes] == [(1, "alternative"), (2, "ai")]
    assert healing.changes[1].after == {"role": "button", "name": "Sign me up", "exact": True}
    assert healing.calls == 1 and healing.prompt_tokens > 0
    assert len(requests) == 1 and SECRET not in requests[0]
    assert "{{secret:EMAIL}}" in requests[0]  # the model sees the placeholder only
    healed = parse_spec(healing.spec)
    assert same_but_locators(spec, healed)
    assert healed.steps[3].text == f"Thanks for subscribing, {SECRET}"  # type: ignore[union-attr]


def test_a_page_that_instructs_the_model_gets_no_proposal(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _journey(site.url)
    site.version = 4
    result = _run(spec, pool, tmp_path, secrets={"EMAIL": SECRET})
    # The model does what the page says: it asks to skip, and to look elsewhere.
    replies = [
        json.dumps({"target": None, "skip": True, "expected": "anything"}),
        json.dumps({"target": {"role": "link", "name": "steal"}, "url": "http://evil.example/"}),
    ]

    def answer(request: dict[str, Any]) -> str:
        return replies.pop(0) if replies else json.dumps({"target": None})

    outcomes, bodies = _heal_asking(spec, result, pool, tmp_path, answer, times=2)
    assert len(bodies) == 2  # one call per healing
    for body in bodies:
        user = body["messages"][1]["content"]
        inside = user.split(OPEN_MARKER, 1)[1].split(CLOSE_MARKER, 1)[0]
        assert "ignore previous instructions" in inside  # the page's words, framed as data
        assert "ignore previous instructions" not in user.replace(inside, "")
    for healing in outcomes:
        assert healing is not None and healing.outcome == "none" and not healing.changes
        assert healing.spec is None and healing.calls == 1
        assert "step 2 (fill label 'Email')" in (healing.error or "")
    assert INJECTION not in (result.error or "") and result.status == "failed"


def test_only_a_missing_element_is_healed(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _journey(site.url).model_copy(update={"id": "wrong-text"})
    steps = list(spec.steps)
    steps[3] = steps[3].model_copy(update={"text": "Welcome back"})
    wrong = spec.model_copy(update={"steps": steps})
    result = _run(wrong, pool, tmp_path, secrets={"EMAIL": SECRET})
    assert result.status == "failed"  # the element is there; what it says is not
    assert heal(wrong, result, _env(pool, tmp_path)) is None


def test_without_the_model_healing_says_why_it_found_nothing(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _journey(site.url)
    site.version = 3
    result = _run(spec, pool, tmp_path, secrets={"EMAIL": SECRET})
    healing = heal(spec, result, _env(pool, tmp_path, secrets={"EMAIL": SECRET}))
    assert healing is not None and healing.outcome == "failed"  # the fill healed, the click not
    assert [c.step for c in healing.changes] == [1]
    assert "step 3 (click button 'Subscribe')" in (healing.error or "")
    assert "the model was not asked" in (healing.error or "")


def test_healing_calls_come_out_of_the_runs_budget(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    """Two drifted tests of one run, one call left after writing: one is asked, one is not."""
    spec = _journey(site.url)
    site.version = 3
    result = _run(spec, pool, tmp_path, secrets={"EMAIL": SECRET})
    ledger = LocalLedger()
    left_one = Allowance(max_calls=6, spent_calls=5)

    def answer(request: dict[str, Any]) -> str:
        return json.dumps({"target": {"role": "button", "name": "Sign me up"}})

    (first, second), bodies = _heal_asking(
        spec, result, pool, tmp_path, answer, times=2,
        wrap=lambda ask: budgeted(ask, ledger, result.run_id, left_one),
    )  # fmt: skip
    assert len(bodies) == 1 and ledger.spent(result.run_id)[0] == 1
    assert first is not None and first.outcome == "passed" and first.calls == 1
    assert second is not None and second.outcome == "failed" and second.calls == 0
    assert [c.source for c in second.changes] == ["alternative"]  # stored ones cost nothing
    assert "the run's budget of 6 model calls is spent" in (second.error or "")


def test_a_locator_refused_in_review_is_not_proposed_again(
    site: DriftSite, pool: BrowserPool, tmp_path: Path
) -> None:
    spec = _journey(site.url)
    site.version = 3
    result = _run(spec, pool, tmp_path, secrets={"EMAIL": SECRET})
    refused = LocatorChange(
        step=2,
        action="click",
        before={"role": "button", "name": "Subscribe", "exact": True},
        after={"role": "button", "name": "Sign me up", "exact": True},
        source="ai",
    )

    def answer(request: dict[str, Any]) -> str:  # the model insists
        return json.dumps({"target": {"role": "button", "name": "Sign me up"}})

    [healing], [body] = _heal_asking(spec, result, pool, tmp_path, answer, rejected=[refused])
    user = body["messages"][1]["content"]
    told = user.split("a reviewer rejected for this step", 1)[1].split("\n")[1]
    assert json.loads(told.removeprefix("- ")) == refused.after  # the model is told
    assert healing is not None and healing.outcome == "failed"
    assert [c.step for c in healing.changes] == [1]  # the fill still heals; the click not
    assert "1 locator(s) rejected in review are not proposed again" in (healing.error or "")


def test_a_proposal_applies_only_where_the_test_is_unchanged(site: DriftSite) -> None:
    spec = _journey(site.url)
    change = LocatorChange(
        step=2,
        action="click",
        before={"role": "button", "name": "Subscribe", "exact": True},
        after={"test_id": "subscribe", "exact": True},
        source="alternative",
    )
    healed = apply_changes(spec, [change])
    assert healed.steps[2].target.test_id == "subscribe"  # type: ignore[union-attr]
    assert same_but_locators(spec, healed)
    with pytest.raises(Conflict, match="step 3 is no longer the click"):
        apply_changes(healed, [change])  # already applied: the step looks elsewhere now
    with pytest.raises(Conflict, match="no longer exists"):
        apply_changes(spec, [change.model_copy(update={"step": 9})])


def test_only_the_runs_first_browser_heals_and_a_run_can_decline(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = _journey("http://127.0.0.1:1/")
    sent = {}
    runs: dict[str, dict[str, Any]] = {
        "default": {"browsers": ["chromium", "firefox"]},
        "no-ai": {"browsers": ["firefox", "chromium"], "ai": {"enabled": False}},
        "no-heal": {"browsers": ["chromium"], "healing": {"enabled": False}},
        "capped": {
            "browsers": ["chromium"],
            "ai": {"enabled": True, "max_calls": 10, "max_tokens": None},
        },
    }
    spent = {"capped": {"calls": 6, "prompt_tokens": 9_000, "completion_tokens": 900}}
    for name, options in runs.items():
        with session_scope(engine, write=True) as session:
            run = create_run(session, spec.url, RunOptions.model_validate(options))
            run.llm_usage, run_id = spent.get(name), run.id
            save_cases(session, run_id, [spec])
        sent[name] = [(job.browser, _heal_sent(job)) for job in _jobs(engine, run_id)]
    engine.dispose()
    assert sent["default"] == [("chromium", {"ai": True}), ("firefox", None)]
    assert sent["no-ai"] == [("firefox", {"ai": False}), ("chromium", None)]
    assert sent["no-heal"] == [("chromium", None)]
    # What the writer spent travels with the healing task, to be counted against the caps.
    budget = {"max_calls": 10, "max_tokens": None, "spent_calls": 6, "spent_tokens": 9_900}
    assert sent["capped"] == [("chromium", {"ai": True, "budget": budget})]


def _jobs(engine: Engine, run_id: str) -> list[ExecutorJob]:
    return [ExecutorJob.model_validate(task.args[0]) for task in fan_out(engine, run_id).tasks]


def _heal_sent(job: ExecutorJob) -> dict[str, Any] | None:
    """What a job asks of its healer, as plain data."""
    if job.heal is None:
        return None
    sent: dict[str, Any] = {"ai": job.heal.ai}
    if job.heal.budget is not None:
        sent["budget"] = asdict(job.heal.budget)
    if job.heal.rejected:
        sent["rejected"] = [change.model_dump(mode="json") for change in job.heal.rejected]
    return sent


def test_a_suites_refusals_travel_with_its_tests_and_no_further(tmp_path: Path) -> None:
    """Rejected changes reach the healer of the same test of the same suite, and only it."""
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = _journey("http://127.0.0.1:1/")
    other = spec.model_copy(update={"id": "other"})
    change = {"step": 2, "action": "click", "before": {"css": "#a"}, "after": {"css": "#b"}}

    def proposal(run_id: str, suite_file: str, case_id: str, status: str, after: str) -> None:
        session.add(
            HealingProposal(
                id=f"h-{run_id}-{case_id}", run_id=run_id, case_id=case_id, browser="chromium",
                suite_file=suite_file, outcome="passed", spec={}, status=status,
                changes=[{**change, "source": "ai", "after": {"css": after}}],
            )
        )  # fmt: skip

    with session_scope(engine, write=True) as session:
        earlier = create_run(session, spec.url, RunOptions(suite_file="/s/suite.json")).id
        elsewhere = create_run(session, spec.url, RunOptions(suite_file="/s/other.json")).id
        proposal(earlier, "/s/suite.json", "signup", "rejected", "#b")
        proposal(elsewhere, "/s/other.json", "signup", "rejected", "#c")  # another suite
        proposal(elsewhere, "/s/suite.json", "other", "pending", "#d")  # not decided
        now = create_run(session, spec.url, RunOptions(suite_file="/s/suite.json")).id
        save_cases(session, now, [spec, other])
    heals = {job.spec.id: _heal_sent(job) for job in _jobs(engine, now)}
    engine.dispose()
    assert heals["signup"] == {
        "ai": True,
        "rejected": [{**change, "source": "ai", "after": {"css": "#b"}}],
    }
    assert heals["other"] == {"ai": True}


def test_the_ai_writer_keeps_only_alternatives_exploration_proved(
    site: DriftSite, pool: BrowserPool
) -> None:
    """A model may write alternatives that find another element; they never reach the healer."""
    found = explore(site.url, pool.browser("chromium"), 1, 5_000)
    proposed = parse_spec(
        {
            "id": "model-signup",
            "name": "A visitor signs up",
            "url": site.url,
            "steps": [
                {"action": "goto", "url": "/"},
                # The model's "alternative" is the submit button, not the field.
                {
                    "action": "fill",
                    "target": {"label": "Email"},
                    "alternatives": [{"css": "#go"}],
                    "value": "ann@example.com",
                },
                {"action": "click", "target": {"role": "button", "name": "Subscribe"}},
                {"action": "goto", "url": "/elsewhere"},  # a page exploration never saw
                {"action": "click", "target": {"text": "More"}, "alternatives": [{"css": "a"}]},
            ],
        }
    )
    grounded = grounded_alternatives(proposed, found)
    fill, click, far = grounded.steps[1], grounded.steps[2], grounded.steps[4]
    fill_alternatives = [a.model_dump(exclude_none=True) for a in fill.alternatives or []]  # type: ignore[union-attr]
    assert {"test_id": "email-field", "exact": True} in fill_alternatives
    assert {"css": "#go", "exact": True} not in fill_alternatives
    click_alternatives = [a.model_dump(exclude_none=True) for a in click.alternatives or []]  # type: ignore[union-attr]
    assert {"test_id": "subscribe", "exact": True} in click_alternatives
    assert far.alternatives is None  # type: ignore[union-attr]
    assert same_but_locators(proposed, grounded)
