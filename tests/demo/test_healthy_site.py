"""Without its seeded bugs the demo site is clean: no error, no violation, fast, stable."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser

from demo.app import VERSION_KEY, create_app
from demo.catalog import PRODUCTS, STORES
from demo.server import DemoServer
from tests.demo.observation import (
    CONTACT_OK,
    EXPECTED_PAGES,
    OPENAPI,
    SERVICE_DESC,
    TBT_BUDGET_MS,
    TTFB_BUDGET_S,
    PageReport,
    axe_violations,
    crawl,
    fetch,
    fill_contact,
    get_json,
    layout_shift_after_load,
    load,
    observed_page,
    schema_errors,
    store_locator_blocking,
    version_screenshots,
)


@pytest.fixture(scope="module")
def healthy_crawl(browser: Browser, healthy: str) -> dict[str, PageReport]:
    return crawl(browser, healthy, press=True)


def test_healthy_crawl_finds_every_page_and_no_lab_route(
    healthy_crawl: dict[str, PageReport],
) -> None:
    assert set(healthy_crawl) == EXPECTED_PAGES
    assert not any(link.startswith("/lab") for r in healthy_crawl.values() for link in r.links)


def test_healthy_pages_are_clean(healthy_crawl: dict[str, PageReport]) -> None:
    """2xx, no page or console error, no failed request, no axe violation, even after clicks."""
    dirty = {
        path: [
            f"HTTP {r.status}",
            *r.observed.problems(),
            *(f"axe: {v}" for v in r.violations),
            *(f"broken image: {src}" for src in r.broken_images),
        ]
        for path, r in healthy_crawl.items()
        if not 200 <= r.status < 300 or r.observed.problems() or r.violations or r.broken_images
    }
    assert dirty == {}


def test_healthy_pages_do_not_shift(healthy_crawl: dict[str, PageReport]) -> None:
    assert {p: r.layout_shift for p, r in healthy_crawl.items() if r.layout_shift} == {}


def test_healthy_pages_answer_fast_and_link_the_api_document(healthy: str) -> None:
    slow: dict[str, float] = {}
    for path in sorted(EXPECTED_PAGES):
        started = time.monotonic()
        status, body = fetch(healthy + path)
        seconds = time.monotonic() - started
        assert status == 200 and SERVICE_DESC in body, path
        if seconds >= TTFB_BUDGET_S / 2:
            slow[path] = seconds
    assert slow == {}


def test_healthy_store_locator_fetches_stores_without_blocking(
    browser: Browser, healthy: str
) -> None:
    blocking, names = store_locator_blocking(browser, healthy)
    assert names == [s.name for s in STORES]
    assert blocking < TBT_BUDGET_MS


def test_healthy_journal_does_not_shift(browser: Browser, healthy: str) -> None:
    assert layout_shift_after_load(browser, healthy, "/journal", "#journal-banner") == 0


def test_healthy_api_conforms_to_its_openapi_document(healthy: str) -> None:
    status, ctype, document = get_json(healthy + OPENAPI)
    assert (status, ctype) == (200, "application/json")
    assert document["openapi"].startswith("3.0.")
    assert set(document["paths"]) == {"/api/products", "/api/products/{slug}", "/api/stores"}
    assert schema_errors(healthy, "/api/products") == []
    assert schema_errors(healthy, "/api/stores") == []
    [parameter] = document["paths"]["/api/products/{slug}"]["get"]["parameters"]
    assert parameter["schema"]["enum"] == [p.slug for p in PRODUCTS]
    for slug in parameter["schema"]["enum"]:
        assert schema_errors(healthy, f"/api/products/{slug}", "/api/products/{slug}") == []
    assert schema_errors(healthy, "/api/products/tent", "/api/products/{slug}") == []
    assert get_json(healthy + "/api/products/tent")[:2] == (404, "application/json")
    _status, _ctype, stores = get_json(healthy + "/api/stores")
    assert None in [s["phone"] for s in stores]  # the nullable field really is null once


def test_healthy_versions_look_the_same_and_render_deterministically(browser: Browser) -> None:
    paths = sorted(EXPECTED_PAGES)
    first, second = version_screenshots(browser, False, paths)
    assert [p for p in paths if first[p] != second[p]] == []


def test_the_version_is_read_per_request() -> None:
    app = create_app(bugs=True, version=1)
    client = app.test_client()
    assert app.config[VERSION_KEY] == 1 and b"about-v2" not in client.get("/about").data
    app.config[VERSION_KEY] = 2
    assert b"about-v2" in client.get("/about").data
    assert b"about-v2" not in create_app(bugs=False, version=2).test_client().get("/about").data
    for bad in (0, 3, True, "2"):
        with pytest.raises(ValueError):
            create_app(version=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            DemoServer(version=bad)  # type: ignore[arg-type]
    server = DemoServer(bugs=False)
    server.version = 2
    assert server.version == 2 and "version=2" in repr(server)


def test_healthy_dark_theme_is_accessible(browser: Browser, healthy: str) -> None:
    """Screenshots and testers may flip the theme; contrast must hold there too."""
    with observed_page(browser, healthy) as (page, observed):
        load(page, healthy + "/contact")
        page.get_by_role("button", name="Switch theme").click()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert axe_violations(page) == []
    assert observed.problems() == []


def test_healthy_forms_submit_to_a_visible_result(browser: Browser, healthy: str) -> None:
    with observed_page(browser, healthy) as (page, observed):
        load(page, healthy + "/contact")
        fill_contact(page)
        with page.expect_navigation() as nav:
            page.click("button[type=submit]")
        assert nav.value.status == 200
        assert page.get_by_role("status").inner_text().startswith("Thanks, Ada!")

        load(page, healthy + "/newsletter")
        page.get_by_label("Name").fill("Grace <b>")
        page.get_by_label("Email address").fill("grace@example.com")
        page.get_by_label("Weekly").check()
        page.get_by_label("I agree").check()
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Subscribe").click()
        assert nav.value.status == 200
        assert "Thanks, Grace <b>!" in page.get_by_role("status").inner_text()
    assert observed.problems() == []


def test_form_fields_carry_constraints_a_filler_must_respect(
    browser: Browser, healthy: str
) -> None:
    with observed_page(browser, healthy) as (page, _observed):
        load(page, healthy + "/contact")
        fill_contact(page)
        assert page.evaluate("document.querySelector('form').checkValidity()")
        for selector, bad in [
            ("#phone", "5550123"),
            ("#order", "99"),
            ("#email", "not-an-email"),
            ("#website", "example.com"),
            ("#message", "too short"),
        ]:
            good = page.input_value(selector)
            page.fill(selector, bad)
            valid = page.evaluate(f"document.querySelector('{selector}').checkValidity()")
            assert not valid, selector
            page.fill(selector, good)


def test_server_side_validation_answers_400_with_visible_errors(healthy: str) -> None:
    status, body = fetch(healthy + "/contact", {**CONTACT_OK, "phone": "5550123", "consent": ""})
    assert status == 400
    assert "Phone must look like 555-0123." in body and "Please agree" in body
    status, body = fetch(healthy + "/newsletter", {"name": "", "email": "x@y"})
    assert status == 400 and "Name is required." in body
    status, body = fetch(healthy + "/contact", {**CONTACT_OK, "name": "<i>Ada</i>"})
    assert status == 200 and "Thanks, &lt;i&gt;Ada&lt;/i&gt;!" in body
