"""The back office (/app): a client-side-routed section whose bugs show only on interaction.

Each check drives real Chromium through the interaction that reveals one
seeded bug (``needs`` in demo/bugs.py) and asserts the bug where the list says
on the buggy site, and its healthy behaviour on the healthy one; page loads
alone stay clean in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from demo.backoffice import FRAME_PATH, LINKED_VIEWS, ORDERS, REPORT_VIEW
from demo.bugs import CAPABILITIES, SEEDED_BUGS, TEST_TYPES, SeededBug, bugs_for_types
from demo.server import DemoServer
from tests.demo.observation import (
    Observed,
    axe_violations,
    fetch,
    get_json,
    load,
    observed_page,
)

# The back office's bugs; those behind the sign-in: tests/demo/test_account_area.py.
INTERACTION_BUGS = tuple(b for b in SEEDED_BUGS if b.needs and b.needs <= CAPABILITIES)
MARK = "window.__sameDocument = true"  # survives pushState, not a document load


def bug(bug_id: str) -> SeededBug:
    return next(b for b in INTERACTION_BUGS if b.id == bug_id)


def _path(url: str) -> str:
    return urlsplit(url).path


def _open(page: Page, base: str, path: str, observed: Observed) -> None:
    """Load ``path`` and prove the load alone shows nothing wrong."""
    assert load(page, base + path) == 200
    assert observed.problems() == [], path


def check_dialog_form(entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool) -> None:
    _open(page, base, entry.path, seen)
    page.get_by_role("button", name="New contact").click()
    dialog = page.get_by_role("dialog", name="New contact")
    assert dialog.is_visible()
    dialog.get_by_label("Name").fill("Linus")
    dialog.get_by_label("Email address").fill("linus@example.com")
    save = dialog.get_by_role("button", name="Save")
    if bugs:
        with page.expect_event("pageerror"):
            save.click()
        assert any("reading 'value'" in e for e in seen.page_errors), seen.page_errors
        assert dialog.is_visible() and "Linus" not in page.locator("#contact-list").inner_text()
        return
    with page.expect_response(lambda r: _path(r.url) == "/api/app/contacts") as answer:
        save.click()
    assert (answer.value.request.method, answer.value.status) == ("POST", 201)
    page.get_by_role("status").filter(has_text="Saved Linus.").wait_for()
    assert not dialog.is_visible()
    assert "Linus (linus@example.com)" in page.locator("#contact-list").inner_text()


def check_click_failed_request(
    entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool
) -> None:
    _open(page, base, entry.path, seen)
    summary = "/api/app/orders/summary"
    with page.expect_response(lambda r: _path(r.url) == summary) as answer:
        page.get_by_role("button", name="Refresh").click()
    assert answer.value.status == (500 if bugs else 200)
    if bugs:
        assert seen.bad_responses == [(500, summary)]
        assert seen.page_errors == [] and seen.app_console_errors() == []  # swallowed
    else:
        page.get_by_text("3 open, 6 shipped, 9 in total.").wait_for()


def check_script_form(entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool) -> None:
    _open(page, base, entry.path, seen)
    page.evaluate(MARK)
    page.get_by_label("Search orders and products").fill("pack")
    search = page.get_by_role("button", name="Search")
    if bugs:
        with page.expect_console_message(lambda m: m.type == "error"):
            search.click()
    else:
        search.click()
    page.get_by_text('4 result(s) for "pack".').wait_for()  # the pack and its 3 orders
    assert "Product: Trail Pack 28L ($89.00)" in page.locator("#results").inner_text()
    assert page.evaluate("window.__sameDocument") is True  # handled by script: no navigation
    errors = seen.app_console_errors()
    assert errors == (["Search index is stale: results may be incomplete"] if bugs else [])


def check_route_only_view(
    entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool
) -> None:
    _open(page, base, "/app", seen)
    links = page.eval_on_selector_all("a[href]", "as => as.map(a => new URL(a.href).pathname)")
    assert entry.path not in links  # only the button leads there
    page.evaluate(MARK)
    if bugs:
        with page.expect_event("pageerror"):
            page.get_by_role("button", name="Open report").click()
    else:
        page.get_by_role("button", name="Open report").click()
    assert _path(page.url) == entry.path and page.evaluate("window.__sameDocument") is True
    _assert_report(page, seen, bugs)
    seen.page_errors.clear()
    seen.bad_responses.clear()
    if bugs:  # the server fallback serves the same view on a direct load
        with page.expect_event("pageerror"):
            page.goto(base + entry.path)
    else:
        load(page, base + entry.path)
    _assert_report(page, seen, bugs)


def _assert_report(page: Page, seen: Observed, bugs: bool) -> None:
    page.get_by_role("heading", name="Monthly report").wait_for()
    if bugs:
        assert any("reading 'map'" in e for e in seen.page_errors), seen.page_errors
        assert (500, "/api/app/reports/monthly") in seen.bad_responses
    else:
        page.get_by_role("cell", name="Trail Pack 28L").wait_for()
        assert seen.page_errors == [] and seen.bad_responses == []


def check_shadow_link(entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool) -> None:
    _open(page, base, "/app", seen)
    light = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.pathname)")
    shadow = page.evaluate(
        "[...document.querySelector('help-card').shadowRoot.querySelectorAll('a[href]')]"
        ".map(a => a.pathname)"
    )
    assert entry.path not in light and shadow == [entry.path]
    with page.expect_navigation() as nav:
        page.get_by_role("link", name="returns policy").click()  # Playwright pierces it
    assert nav.value is not None and nav.value.status == (404 if bugs else 200)
    assert fetch(base + entry.path)[0] == (404 if bugs else 200)


def check_frame_image(entry: SeededBug, page: Page, base: str, seen: Observed, bugs: bool) -> None:
    assert load(page, base + "/app/help") == 200
    frame = next(f for f in page.frames if _path(f.url) == FRAME_PATH)
    assert frame.parent_frame == page.main_frame
    src, width = frame.eval_on_selector("img", "i => [i.getAttribute('src'), i.naturalWidth]")
    main_images = page.eval_on_selector_all("img", "is => is.map(i => i.getAttribute('src'))")
    assert src not in main_images  # only a reader of frames sees it
    if bugs:
        assert (src, width) == (entry.path, 0)
        assert seen.bad_responses == [(404, entry.path)] and seen.page_errors == []
    else:
        assert src == entry.path.removesuffix(".png") + ".svg" and width > 0
        assert seen.problems() == []


CHECKS: dict[str, Callable[[SeededBug, Page, str, Observed, bool], None]] = {
    "dialog-form-throws": check_dialog_form,
    "click-failed-request": check_click_failed_request,
    "script-form-console-error": check_script_form,
    "route-only-view": check_route_only_view,
    "shadow-broken-link": check_shadow_link,
    "frame-broken-image": check_frame_image,
}


def test_interaction_bugs_are_listed_apart_from_the_default_set() -> None:
    assert {b.id for b in INTERACTION_BUGS} == set(CHECKS)
    assert all(b.path.startswith(("/app", "/help", "/static")) for b in INTERACTION_BUGS)
    assert not set(INTERACTION_BUGS) & set(bugs_for_types(TEST_TYPES))
    assert set(INTERACTION_BUGS) <= set(bugs_for_types(TEST_TYPES, CAPABILITIES))


@pytest.mark.parametrize("mode", ["buggy", "healthy"])
@pytest.mark.parametrize("entry", INTERACTION_BUGS, ids=[b.id for b in INTERACTION_BUGS])
def test_interaction_bug_shows_only_on_the_buggy_site(
    entry: SeededBug, mode: str, browser: Browser, buggy: str, healthy: str
) -> None:
    bugs = mode == "buggy"
    base = buggy if bugs else healthy
    with observed_page(browser, base) as (page, seen):
        CHECKS[entry.id](entry, page, base, seen, bugs)
        if not bugs:
            assert seen.problems() == []


def test_router_moves_with_push_state_and_back_and_forward(browser: Browser, healthy: str) -> None:
    with observed_page(browser, healthy) as (page, seen):
        load(page, healthy + "/app")
        page.evaluate(MARK)
        nav = page.get_by_role("navigation", name="Back office")
        nav.get_by_role("link", name="Orders").click()
        page.get_by_role("heading", name="Orders", level=1).wait_for()
        assert _path(page.url) == "/app/orders" and page.title().startswith("Orders |")
        assert nav.get_by_role("link", name="Orders").get_attribute("aria-current") == "page"
        nav.get_by_role("link", name="Search").click()
        page.get_by_role("heading", name="Search", level=1).wait_for()
        page.go_back()
        page.get_by_role("heading", name="Orders", level=1).wait_for()
        page.go_back()
        page.get_by_role("heading", name="Back office", level=1).wait_for()
        page.go_forward()
        page.get_by_role("heading", name="Orders", level=1).wait_for()
        assert _path(page.url) == "/app/orders"
        assert page.evaluate("window.__sameDocument") is True  # one document throughout
    assert seen.problems() == []


def test_server_fallback_serves_the_shell_for_every_app_route(
    browser: Browser, healthy: str
) -> None:
    for path in [*LINKED_VIEWS, REPORT_VIEW, "/app/no/such/view"]:
        status, body = fetch(healthy + path)
        assert status == 200 and 'id="view"' in body and "router.js" in body, path
    assert 'id="view"' not in fetch(healthy + FRAME_PATH)[1]  # the frame is its own page
    with observed_page(browser, healthy) as (page, seen):
        load(page, healthy + "/app/no/such/view")
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert seen.problems() == []


def test_healthy_widgets_work_without_errors(browser: Browser, healthy: str) -> None:
    with observed_page(browser, healthy) as (page, seen):
        load(page, healthy + "/app")
        page.get_by_role("tab", name="Activity").click()
        assert page.get_by_role("tabpanel", name="Activity").is_visible()
        assert not page.get_by_role("tabpanel", name="Summary").is_visible()
        page.get_by_text("How often do orders refresh?").click()
        assert page.get_by_text("Press Refresh on the orders page").is_visible()
        load(page, healthy + "/app/orders")
        rows = page.locator("#order-rows tr")
        more = page.get_by_role("button", name="Load more orders")
        for shown in (6, 9):
            more.click()
            rows.nth(shown - 1).wait_for()
        assert rows.count() == len(ORDERS) and not more.is_visible()  # three pages, no more
    assert seen.problems() == []


def test_delete_all_orders_counts_its_clicks_so_tests_can_prove_none(browser: Browser) -> None:
    with DemoServer(bugs=False) as server:  # its own counter, not the session server's
        clicks = server.url + "/api/app/danger-clicks"
        assert get_json(clicks)[2] == {"delete_all": 0}
        with observed_page(browser, server.url) as (page, seen):
            load(page, server.url + "/app/orders")
            assert get_json(clicks)[2] == {"delete_all": 0}  # loading the page is not a click
            page.get_by_role("button", name="Delete all orders").click()
            page.get_by_text("All orders deleted").wait_for()
        assert get_json(clicks)[2] == {"delete_all": 1}
    assert seen.problems() == []


def test_healthy_back_office_is_accessible_dark_and_with_the_dialog_open(
    browser: Browser, healthy: str
) -> None:
    with observed_page(browser, healthy) as (page, seen):
        for path in LINKED_VIEWS:
            load(page, healthy + path)
            page.get_by_role("button", name="Switch theme").click()
            assert axe_violations(page) == [], path
        page.get_by_role("navigation", name="Back office").get_by_role(
            "link", name="Contacts"
        ).click()
        page.get_by_role("button", name="New contact").click()
        assert page.get_by_role("dialog", name="New contact").is_visible()
        assert axe_violations(page) == []
    assert seen.problems() == []
