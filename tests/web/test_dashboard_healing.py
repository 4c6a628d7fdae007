"""Reviewing healing proposals in the dashboard, in real Chromium, as each role.

The server is the real app on a real HTTP server (embedded mode) with a real
SQLite file. Proposals are seeded in the database as a healed run leaves them:
a run of a saved suite (or of no saved suite), and its ``HealingProposal`` rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from matf.options import RunOptions
from matf.results import Healing, LocatorChange, TestResult
from matf.spec import Locator, TestSpec, retarget
from matf.storage.db import get_engine, session_scope
from matf.storage.models import HealingProposal
from matf.storage.runs import create_run, finish_run, record_results
from matf.storage.suites import create_suite
from tests.apiserver import ApiServer
from tests.web.test_dashboard import Watched, sign_in

TARGET = "http://shop.test/"
BEFORE = {"role": "button", "name": "Subscribe", "exact": True}
AFTER = {"test_id": "subscribe", "exact": True}
PAYLOAD = "<img src=x onerror=window.__pwned=1>"
HOSTILE = {"role": "button", "name": f"Join {PAYLOAD}", "exact": True}
INJECTED = "img[src=x]"


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Watched]]:
    """A fresh tab that records dialogs and CSP refusals (see ``tests.test_dashboard``)."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    tab = context.new_page()
    watched = Watched()

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on(
        "console",
        lambda m: watched.csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield tab, watched
    context.close()


def _spec(case_id: str) -> TestSpec:
    return TestSpec.model_validate(
        {
            "id": case_id,
            "name": f"{case_id}: subscribe to the newsletter",
            "url": TARGET,
            "steps": [
                {"action": "goto", "url": "/"},
                {"action": "click", "target": BEFORE},
                {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks"},
            ],
        }
    )


def _suite(api: ApiServer, *case_ids: str) -> str:
    engine = get_engine(api.settings.database_url)
    with session_scope(engine, write=True) as session:
        specs = [_spec(case_id) for case_id in case_ids]
        return create_suite(session, "Newsletter", TARGET, specs, "user:editor@example.com").id


def _proposal(
    api: ApiServer,
    case_id: str,
    suite_id: str | None,
    after: dict[str, Any] = AFTER,
    source: str = "alternative",
    outcome: str = "passed",
    error: str | None = None,
    calls: int = 0,
    result: bool = False,
) -> tuple[str, str]:
    """A finished run (of ``suite_id``, or of no saved suite) with one pending proposal.

    With ``result``, the run also keeps the test's failed result carrying its healing.
    Returns (run id, proposal id).
    """
    spec = _spec(case_id)
    change = LocatorChange(step=1, action="click", before=BEFORE, after=after, source=source)  # type: ignore[arg-type]
    healed = retarget(spec, 1, Locator.model_validate(after)).model_dump(
        mode="json", exclude_none=True
    )
    engine = get_engine(api.settings.database_url)
    with session_scope(engine, write=True) as session:
        run = create_run(session, TARGET, RunOptions(types=("functional",)))
        run.suite_id = suite_id
        proposal = HealingProposal(
            id=f"h-{secrets.token_hex(6)}",
            run_id=run.id,
            case_id=case_id,
            browser="chromium",
            suite_id=suite_id,
            suite_file=None,
            outcome=outcome,
            changes=[change.model_dump(mode="json")],
            spec=healed,
            error=error,
            calls=calls,
            prompt_tokens=1200 * calls,
            completion_tokens=40 * calls,
            status="pending",
        )
        session.add(proposal)
        if result:
            healing = Healing(
                outcome=outcome,  # type: ignore[arg-type]
                changes=[change],
                spec=healed,
                error=error,
                calls=calls,
            )
            record_results(
                session,
                [
                    TestResult.for_spec(
                        spec, "chromium", run.id, "failed", error="no element", healing=healing
                    )
                ],
            )
        finish_run(session, run.id, "failed", datetime.now(UTC))
        session.flush()
        return run.id, proposal.id


def _case_target(api: ApiServer, suite_id: str, case_id: str) -> Locator:
    """The saved test's click target (step 2), as the API serves it."""
    with api.client("viewer") as viewer:
        answer = viewer.get(f"/api/v1/suites/{suite_id}/cases/{case_id}")
    assert answer.status_code == 200, answer.text
    return Locator.model_validate(answer.json()["spec"]["steps"][1]["target"])


def _status(api: ApiServer, proposal: str) -> str:
    with api.client("viewer") as viewer:
        return str(viewer.get(f"/api/v1/healing/{proposal}").json()["status"])


def test_a_viewer_reads_pending_proposals_but_has_no_buttons(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given a saved suite and a pending proposal for one of its tests
    suite = _suite(api, "signup")
    run_id, proposal = _proposal(api, "signup", suite)
    tab, watched = page
    # When a viewer follows the Healing link in the navigation
    sign_in(tab, api.url, "viewer")
    tab.get_by_role("link", name="Healing").click()
    expect(tab).to_have_url(f"{api.url}/healing")
    expect(tab.get_by_role("link", name="Healing")).to_have_attribute("aria-current", "page")
    # Then the proposal shows what changes, how the re-run went and where it applies
    item = tab.locator(f"[data-proposal-id='{proposal}']")
    expect(item.locator(".name")).to_have_text("signup")
    expect(item.get_by_role("link", name=f"run {run_id}")).to_have_attribute(
        "href", f"/runs/{run_id}"
    )
    expect(item.locator(".changes li")).to_have_text(
        "step 2 click: button 'Subscribe' → test_id 'subscribe' (stored alternative)"
    )
    expect(item.locator(".rerun")).to_contain_text("passed")
    expect(item.locator(".applies")).to_contain_text(f"in saved suite {suite}")
    expect(item.locator(".model-usage")).to_have_count(0)  # no model was asked
    # But no button to decide it
    expect(item.get_by_role("button")).to_have_count(0)
    expect(tab.get_by_role("button", name="Accept")).to_have_count(0)
    # And a viewer who calls the API anyway is refused: the proposal still waits
    with api.client("viewer") as viewer:
        assert viewer.post(f"/api/v1/healing/{proposal}/accept").status_code == 403
    assert _status(api, proposal) == "pending"
    assert watched.csp == [] and watched.dialogs == []


def test_an_editor_accepts_one_proposal_and_rejects_another(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given two pending proposals for two tests of one saved suite
    suite = _suite(api, "signup", "footer")
    _run, accepted = _proposal(api, "signup", suite)
    _run2, rejected = _proposal(api, "footer", suite)
    tab, watched = page
    sign_in(tab, api.url, "editor", "/healing")
    # When the editor accepts the first
    first = tab.locator(f"[data-proposal-id='{accepted}']")
    first.get_by_role("button", name="Accept").click()
    # Then the page says so, and the saved test now finds its button by the new locator
    expect(first.locator("[data-outcome]")).to_have_text(f"accepted (applied to suite {suite})")
    expect(first.get_by_role("button", name="Accept")).to_be_disabled()
    assert _case_target(api, suite, "signup") == Locator.model_validate(AFTER)
    assert _status(api, accepted) == "accepted"
    # When the editor rejects the second, its test stays as it was
    second = tab.locator(f"[data-proposal-id='{rejected}']")
    second.get_by_role("button", name="Reject").click()
    expect(second.locator("[data-outcome]")).to_have_text("rejected")
    assert _status(api, rejected) == "rejected"
    assert _case_target(api, suite, "footer") == Locator.model_validate(BEFORE)
    expect(tab.locator("#healing-error")).to_be_hidden()
    # And both leave the pending list
    tab.reload()
    expect(tab.locator("[data-proposal-id]")).to_have_count(0)
    expect(tab.get_by_text("No healing proposal is waiting for review.")).to_be_visible()
    # The status filter finds the accepted one, decided by the editor, with nothing to press
    tab.get_by_label("Status").select_option("accepted")
    tab.get_by_role("button", name="Filter").click()
    expect(tab).to_have_url(f"{api.url}/healing?status=accepted")
    item = tab.locator(f"[data-proposal-id='{accepted}']")
    expect(item.locator("h3 .badge")).to_have_text("accepted")
    expect(item.locator(".applies")).to_contain_text("by user:editor@example.com")
    expect(item.locator(".applies")).to_contain_text(f"applied to suite {suite}")
    expect(item.get_by_role("button")).to_have_count(0)
    expect(tab.locator("[data-proposal-id]")).to_have_count(1)
    tab.goto(f"{api.url}/healing?status=all")
    expect(tab.locator("[data-proposal-id]")).to_have_count(2)
    assert watched.csp == [] and watched.dialogs == []


def test_a_refused_decision_shows_its_one_line_reason(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given a proposal from a run whose tests are in no saved suite
    run_id, proposal = _proposal(api, "signup", None)
    tab, watched = page
    sign_in(tab, api.url, "editor", "/healing")
    item = tab.locator(f"[data-proposal-id='{proposal}']")
    expect(item.locator(".applies")).to_contain_text("in no saved suite")
    # When the editor accepts it
    item.get_by_role("button", name="Accept").click()
    # Then the API's 409 shows as one line, the buttons come back and the proposal waits
    error = tab.locator("#healing-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(
        f"cannot apply {proposal}: run {run_id}'s tests are in no saved suite"
    )
    assert "\n" not in error.inner_text()
    expect(item.get_by_role("button", name="Accept")).to_be_enabled()
    expect(item.locator("[data-outcome]")).to_have_text("")
    assert _status(api, proposal) == "pending"
    # And rejecting it still works, clearing the error
    item.get_by_role("button", name="Reject").click()
    expect(item.locator("[data-outcome]")).to_have_text("rejected")
    expect(error).to_be_hidden()
    assert _status(api, proposal) == "rejected"
    assert watched.csp == [] and watched.dialogs == []


def test_hostile_locators_and_errors_show_as_text_on_the_healing_and_run_pages(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given a model's proposal whose new locator and re-run error carry markup,
    # for a run that keeps the failed result it heals
    suite = _suite(api, "signup")
    run_id, proposal = _proposal(
        api,
        "signup",
        suite,
        after=HOSTILE,
        source="ai",
        outcome="failed",
        error=f"still no element {PAYLOAD}",
        calls=2,
        result=True,
    )
    _other_run, other = _proposal(api, "signup", None)  # another run's: filtered out below
    tab, watched = page
    # When an editor opens the run's page, the failed test says a proposal waits
    sign_in(tab, api.url, "editor", f"/runs/{run_id}")
    note = tab.locator("#failures [data-case-id='signup'] .healing-note")
    expect(note).to_have_text("healer proposed a new locator (re-run failed) — review")
    # And its link leads to the healing page for that run only
    note.get_by_role("link", name="review").click()
    expect(tab.locator("#healing-all-runs")).to_be_visible()
    url = urlsplit(tab.url)
    assert url.path == "/healing"
    assert parse_qs(url.query) == {"run": [run_id], "status": ["all"]}
    expect(tab.locator("[data-proposal-id]")).to_have_count(1)
    expect(tab.locator(f"[data-proposal-id='{other}']")).to_have_count(0)
    item = tab.locator(f"[data-proposal-id='{proposal}']")
    # Then the markup is shown as text, never parsed or run
    expect(item.locator(".changes li")).to_have_text(
        f"step 2 click: button 'Subscribe' → button 'Join {PAYLOAD}' (model)"
    )
    expect(item.locator(".rerun")).to_contain_text("still failed")
    expect(item.locator(".error-text")).to_have_text(f"still no element {PAYLOAD}")
    expect(item.locator(".model-usage")).to_have_text(
        "Model: 2 calls, 2400 prompt + 80 completion tokens"
    )
    tab.wait_for_load_state("networkidle")
    assert tab.locator(INJECTED).count() == 0
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    # And accepting it writes the hostile name into the saved test as data, nothing more
    item.get_by_role("button", name="Accept").click()
    expect(item.locator("[data-outcome]")).to_contain_text("accepted")
    assert _case_target(api, suite, "signup") == Locator.model_validate(HOSTILE)
    tab.goto(f"{api.url}/healing?status=all")
    expect(tab.get_by_text(f"button 'Join {PAYLOAD}'").first).to_be_attached()
    assert tab.locator(INJECTED).count() == 0
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert watched.csp == [] and watched.dialogs == []
