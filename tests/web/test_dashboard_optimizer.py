"""The dashboard's Optimizer page in real Chromium: what the analysis found, quarantines decided.

The real app on a real HTTP server (embedded mode) and a real SQLite file,
with a history analysed as the scheduled job does it (``tests.optimizer_history``).
A failure message carries markup: the page must show it as text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.apiserver import ApiServer
from tests.optimizer_history import analysed
from tests.web.test_dashboard import Watched, sign_in

PAYLOAD = "<img src=x onerror=window.__pwned=true>"


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Watched]]:
    """A fresh tab that records dialogs and CSP refusals."""
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


def _status(api: ApiServer, proposal: str) -> str:
    with api.client("viewer") as viewer:
        return str(viewer.get(f"/api/v1/optimizer/quarantine/{proposal}").json()["status"])


def _pending(api: ApiServer) -> dict[str, str]:
    with api.client("viewer") as viewer:
        items = viewer.get("/api/v1/optimizer/quarantine").json()["items"]
    return {p["case_id"]: p["id"] for p in items}


def test_a_viewer_reads_the_findings_but_has_no_buttons(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given an analysed history
    suite_id, _detail = analysed(api.settings)
    tab, watched = page
    # When a viewer follows the Optimizer link
    sign_in(tab, api.url, "viewer")
    tab.get_by_role("link", name="Optimizer").click()
    expect(tab).to_have_url(f"{api.url}/optimizer")
    expect(tab.get_by_role("link", name="Optimizer")).to_have_attribute("aria-current", "page")
    # Then it says when the analysis ran, over what window, and what it counted
    expect(tab.locator("#optimizer-when")).to_contain_text(
        "over the last 30 days (14 runs, 5 tests)"
    )
    expect(tab.locator("#optimizer-summary")).to_contain_text("4 flaky")
    expect(tab.locator("#optimizer-summary")).to_contain_text("10.0 s sooner to the first failure")
    # The flakiest tests with score, flip rate, runs and retries; wobbly last
    rows = tab.locator("#flakiest tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.last).to_contain_text("wobbly")
    expect(rows.last.locator("td").nth(1)).to_have_text("0.62")
    # The slowest test first, with its percentiles and trend
    expect(tab.locator("#slowest tbody tr").first).to_contain_text("slow")
    expect(tab.locator("#slowest tbody tr").first.locator("td").nth(1)).to_have_text("10.0 s")
    # The cluster and the cause its tests share
    cluster = tab.locator("#clusters .cluster")
    expect(cluster.locator(".members li")).to_have_count(2)
    expect(cluster.locator(".causes li").first).to_contain_text("shared GET /api/cart/{id} -> 500")
    # The time saved per suite, and the proposals, with no button for a viewer
    expect(tab.locator("#first-failure tbody tr")).to_contain_text(suite_id)
    expect(tab.locator("[data-quarantine-id]")).to_have_count(3)
    expect(tab.locator("#quarantine").get_by_role("button")).to_have_count(0)
    expect(tab.get_by_role("button", name="Analyse now")).to_have_count(0)
    assert watched.csp == [] and watched.dialogs == []


def test_an_editor_accepts_one_proposal_and_rejects_another(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    # Given three pending proposals, and a cluster whose tests fail with markup in the message
    suite_id, _detail = analysed(api.settings, f"expected Basket {PAYLOAD}")
    pending = _pending(api)
    tab, watched = page
    sign_in(tab, api.url, "editor", "/optimizer")
    # When the editor accepts the coin toss
    coin = tab.locator(f"[data-quarantine-id='{pending['coin']}']")
    coin.get_by_role("button", name="Accept").click()
    # Then the row says so, and the API agrees
    expect(coin.locator("[data-outcome]")).to_have_text(f"accepted (suite {suite_id})")
    expect(coin.get_by_role("button", name="Accept")).to_be_disabled()
    assert _status(api, pending["coin"]) == "accepted"
    # When the editor rejects the cart's, it is rejected
    cart = tab.locator(f"[data-quarantine-id='{pending['cart']}']")
    cart.get_by_role("button", name="Reject").click()
    expect(cart.locator("[data-outcome]")).to_have_text("rejected")
    assert _status(api, pending["cart"]) == "rejected"
    expect(tab.locator("#optimizer-error")).to_be_hidden()
    # And after a reload only the third waits
    tab.reload()
    expect(tab.locator("[data-quarantine-id]")).to_have_count(1)
    expect(tab.locator("#quarantine h2")).to_contain_text("1 pending")
    # And the cluster's cause shows the markup as text, never parsed or run
    expect(tab.locator("#clusters .causes .title")).to_have_text(
        f"expect_text: expected Basket {PAYLOAD}"
    )
    tab.wait_for_load_state("networkidle")
    assert tab.locator("img[src=x]").count() == 0
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert watched.csp == [] and watched.dialogs == []


def test_an_editor_asks_for_an_analysis_now(api: ApiServer, page: tuple[Page, Watched]) -> None:
    tab, watched = page
    sign_in(tab, api.url, "editor", "/optimizer")
    expect(tab.locator("#optimizer-when")).to_contain_text("No analysis yet")
    tab.get_by_role("button", name="Analyse now").click()
    expect(tab.locator("#optimizer-run-outcome")).to_contain_text("sent")
    expect(tab.locator("#optimizer-error")).to_be_hidden()
    # The job runs on the server's own workers; once stored, the page shows it
    with api.client("viewer") as viewer:
        deadline = time.monotonic() + 60
        while viewer.get("/api/v1/optimizer/analysis").status_code == 404:
            assert time.monotonic() < deadline, "the analysis asked for was never stored"
            time.sleep(0.2)
    tab.reload()
    expect(tab.locator("#optimizer-when")).to_contain_text("(0 runs, 0 tests)")
    assert watched.csp == [] and watched.dialogs == []
