"""The demo site really has its seeded bugs, and really is clean without them.

MATF's benchmarks score findings against ``SEEDED_BUGS``, so these tests load
the site in real Chromium (and axe-core) to prove each listed bug is
observable, that nothing else is broken, and that the healthy switch removes
every one of them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urldefrag, urlencode, urlsplit
from urllib.request import Request as HttpRequest
from urllib.request import urlopen

import jsonschema
import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageChops
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Request,
    Response,
)

from demo import lab
from demo.app import VERSION_KEY, create_app
from demo.bugs import (
    CATEGORIES,
    SEEDED_BUGS,
    TEST_TYPE_BY_CATEGORY,
    TEST_TYPES,
    SeededBug,
    bugs_for_types,
)
from demo.catalog import PRODUCTS, STORES
from demo.server import DemoServer

ROOT = Path(__file__).resolve().parents[1]
MAIN_PAGES = {
    "/",
    "/products",
    "/about",
    "/contact",
    "/newsletter",
    "/dashboard",
    "/careers",
    "/stores",
    "/journal",
}
EXPECTED_PAGES = MAIN_PAGES | {f"/products/{p.slug}" for p in PRODUCTS}
CONTACT_OK = {
    "name": "Ada",
    "email": "ada@example.com",
    "phone": "555-0123",
    "order": "1234",
    "website": "https://example.com",
    "topic": "order",
    "message": "My trail pack arrived with a torn strap.",
    "contact_method": "email",
    "consent": "yes",
}
SETTLED = "() => !document.querySelector('[aria-busy=\"true\"]')"
OPENAPI = "/api/openapi.json"
SERVICE_DESC = '<link rel="service-desc" type="application/openapi+json" href="/api/openapi.json">'
# The budgets MATF's performance tests hold pages to.
TTFB_BUDGET_S, CLS_BUDGET, TBT_BUDGET_MS = 0.8, 0.1, 200
# Cumulative Layout Shift so far, read with a buffered PerformanceObserver.
CLS_JS = """() => new Promise((resolve) => {
  let total = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (!entry.hadRecentInput) total += entry.value;
    }
  });
  observer.observe({ type: "layout-shift", buffered: true });
  setTimeout(() => { observer.disconnect(); resolve(total); }, 100);
})"""
# Long tasks, recorded from the start of every document (an init script).
RECORD_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask" });
"""
TBT_JS = "() => window.__longTasks.reduce((sum, d) => sum + Math.max(0, d - 50), 0)"


def fetch(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    """GET (or form-POST) without a browser; HTTP errors are answers, not exceptions."""
    body = urlencode(data).encode() if data is not None else None
    try:
        with urlopen(HttpRequest(url, data=body), timeout=30) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        with error:
            return error.code, error.read().decode()


@dataclass
class Observed:
    """What one page did: the signals MATF's explorer listens for."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    bad_responses: list[tuple[int, str]] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def app_console_errors(self) -> list[str]:
        """Console errors the page logged itself, not Chromium's load-failure echoes."""
        return [m for m in self.console_errors if not m.startswith("Failed to load resource")]

    def problems(self) -> list[str]:
        return [
            *(f"pageerror: {m}" for m in self.page_errors),
            *(f"console: {m}" for m in self.console_errors),
            *(f"HTTP {s}: {u}" for s, u in self.bad_responses),
            *(f"failed: {u}" for u in self.failed_requests),
        ]


@dataclass
class PageReport:
    status: int
    observed: Observed
    violations: list[str]
    links: set[str]
    broken_images: list[str]
    layout_shift: float


@pytest.fixture(scope="module")
def healthy(healthy_demo: str) -> str:
    return healthy_demo  # the session's server (conftest), not one more


@pytest.fixture(scope="module")
def buggy(demo: str) -> str:
    return demo


@contextmanager
def observed_page(owner: Browser | BrowserContext, base: str) -> Iterator[tuple[Page, Observed]]:
    """A new page with every failure signal recorded.

    Opened from the ``Browser`` it gets a fresh context of its own (closed with
    the page); opened from a ``BrowserContext`` it shares that context.
    """
    page = owner.new_page()
    seen = Observed()
    origin = urlsplit(base).netloc
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on(
        "console",
        lambda msg: seen.console_errors.append(msg.text) if msg.type == "error" else None,
    )

    def on_response(response: Response) -> None:
        status, url = response.status, response.url
        if status >= 400 and urlsplit(url).netloc == origin:
            seen.bad_responses.append((status, urlsplit(url).path))

    def on_request_failed(request: Request) -> None:
        # ERR_ABORTED is the test's own doing: navigating on cancels in-flight
        # requests such as the lazily fetched favicon.
        if request.failure != "net::ERR_ABORTED":
            seen.failed_requests.append(f"{request.url} ({request.failure})")

    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    try:
        yield page, seen
    finally:
        page.close()


def axe_violations(page: Page) -> list[str]:
    response = Axe().run(page).response
    return sorted(v["id"] for v in response["violations"])


def load(page: Page, url: str) -> int:
    """Open ``url`` and wait until background loads (marked aria-busy) settle."""
    response = page.goto(url, wait_until="load")
    assert response is not None, url
    settle(page)
    return response.status


def settle(page: Page) -> None:
    """Wait for background loads (marked aria-busy) to finish; most pages have none."""
    if page.locator("[aria-busy]").count():
        page.wait_for_function(SETTLED)


def click_buttons(page: Page) -> int:
    """Click every ``type=button`` button once, as MATF's explorer would."""
    buttons = page.locator("button[type=button]")
    count = buttons.count()
    for index in range(count):
        buttons.nth(index).click()
    settle(page)
    return count


def visit(context: BrowserContext, base: str, path: str, press: bool) -> PageReport:
    """Load one page, run axe on it as loaded, then (with ``press``) click its buttons."""
    with observed_page(context, base) as (page, observed):
        status = load(page, base + path)
        layout_shift = float(page.evaluate(CLS_JS))
        violations = axe_violations(page)
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !i.naturalWidth).map(i => i.getAttribute('src'))"
        )
        if press:
            assert click_buttons(page) >= 1, path
    links = set()
    for href in hrefs:
        parts = urlsplit(urldefrag(href).url)
        if f"{parts.scheme}://{parts.netloc}" == base:
            links.add(parts.path or "/")
    return PageReport(status, observed, violations, links, broken, layout_shift)


def crawl(browser: Browser, base: str, *, press: bool = False) -> dict[str, PageReport]:
    """Visit every same-origin page linked from ``/``, as MATF's explorer would.

    The crawl is one check: one fresh context, a new page per URL (the site
    keeps no cookies or storage, so pages cannot leak state into each other).
    """
    reports: dict[str, PageReport] = {}
    queue, seen = ["/"], {"/"}
    context = browser.new_context()
    try:
        while queue:
            path = queue.pop(0)
            reports[path] = visit(context, base, path, press)
            for link in sorted(reports[path].links - seen):
                seen.add(link)
                queue.append(link)
    finally:
        context.close()
    return reports


@pytest.fixture(scope="module")
def healthy_crawl(browser: Browser, healthy: str) -> dict[str, PageReport]:
    return crawl(browser, healthy, press=True)


@pytest.fixture(scope="module")
def buggy_crawl(browser: Browser, buggy: str) -> dict[str, PageReport]:
    return crawl(browser, buggy)


def bug(bug_id: str) -> SeededBug:
    return next(b for b in SEEDED_BUGS if b.id == bug_id)


def get_json(url: str) -> tuple[int, str, Any]:
    """Status, content type (without parameters) and parsed JSON body of a GET."""
    try:
        with urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), json.load(response)
    except HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), json.load(error)


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable: true`` adds the "null" type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def schema_errors(base: str, path: str, template: str | None = None) -> list[str]:
    """Where the JSON answer of ``GET path`` breaks the schema the API documents for it."""
    _status, _ctype, document = get_json(base + OPENAPI)
    operation = document["paths"][template or path]["get"]
    status, ctype, body = get_json(base + path)
    assert ctype == "application/json", (path, ctype)
    schema = operation["responses"][str(status)]["content"][ctype]["schema"]
    root = {"allOf": [json_schema(schema)], "components": json_schema(document["components"])}
    validator = jsonschema.Draft7Validator(root)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    )


def layout_shift_after_load(browser: Browser, base: str, path: str, wait_for: str) -> float:
    """Load ``path``, wait for ``wait_for`` and 400 ms more, then read the page's CLS.

    The page must be clean otherwise, axe included, once ``wait_for`` shows.
    """
    with observed_page(browser, base) as (page, observed):
        load(page, base + path)
        page.wait_for_selector(wait_for)
        page.wait_for_timeout(400)
        shift = float(page.evaluate(CLS_JS))
        assert axe_violations(page) == []
    assert observed.problems() == []
    return shift


def store_locator_blocking(browser: Browser, base: str) -> tuple[float, list[str]]:
    """Total blocking time (ms) on /stores in the 800 ms after load, and the stores shown."""
    context = browser.new_context()
    context.add_init_script(RECORD_LONG_TASKS)
    try:
        with observed_page(context, base) as (page, observed):
            with page.expect_response(lambda r: urlsplit(r.url).path == "/api/stores") as api:
                load(page, base + "/stores")
            assert api.value.status == 200
            assert api.value.request.resource_type == "fetch"
            page.wait_for_timeout(800)  # the seeded busy loop starts 100 ms after load
            blocking = float(page.evaluate(TBT_JS))
            names = page.locator("#stores h3").all_inner_texts()
        assert observed.problems() == []
    finally:
        context.close()
    return blocking, names


def screenshots(browser: Browser, base: str, paths: list[str]) -> dict[str, bytes]:
    """A full-page screenshot of each page, taken once it has settled."""
    context = browser.new_context()
    try:
        with observed_page(context, base) as (page, observed):
            shots: dict[str, bytes] = {}
            for path in paths:
                load(page, base + path)
                shots[path] = page.screenshot(full_page=True, animations="disabled")
        assert observed.problems() == []
    finally:
        context.close()
    return shots


def changed_fraction(before: bytes, after: bytes) -> float:
    """The share of pixels that differ (a size change counts the extra area as changed)."""
    old = Image.open(BytesIO(before)).convert("RGB")
    new = Image.open(BytesIO(after)).convert("RGB")
    size = (max(old.width, new.width), max(old.height, new.height))
    canvases = []
    for image in (old, new):
        canvas = Image.new("RGB", size, (255, 0, 255))
        canvas.paste(image, (0, 0))
        canvases.append(canvas)
    diff = np.asarray(ImageChops.difference(canvases[0], canvases[1]))
    return float(np.count_nonzero(diff.any(axis=2))) / (size[0] * size[1])


def version_screenshots(
    browser: Browser, bugs: bool, paths: list[str]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Screenshots of ``paths`` on version 1, then on version 2 of the same running server."""
    with DemoServer(bugs=bugs, version=1) as server:
        first = screenshots(browser, server.url, paths)
        server.set_version(2)
        assert server.version == 2
        second = screenshots(browser, server.url, paths)
    return first, second


# --- the bug list itself ---------------------------------------------------


def test_seeded_bug_list_is_well_formed() -> None:
    ids = [b.id for b in SEEDED_BUGS]
    assert len(ids) == len(set(ids))
    assert {
        "broken-link",
        "error-on-load",
        "form-500",
        "button-throws",
        "broken-image",
        "failing-request",
        "console-error",
        "a11y-violations",
        "slow-page",
        "layout-shift",
        "visual-change",
        "api-schema",
    } <= set(ids)
    for entry in SEEDED_BUGS:
        assert entry.category in CATEGORIES
        assert entry.path.startswith("/") and entry.description
        assert entry.id.startswith("a11y-") == (entry.category == "accessibility")
        assert entry.test_type == TEST_TYPE_BY_CATEGORY[entry.category]
    assert {b.test_type for b in SEEDED_BUGS} == TEST_TYPES


def test_bugs_for_types_filters_by_the_test_type_that_finds_them() -> None:
    functional = {"link", "page", "form", "button", "image"}
    default = bugs_for_types(["functional", "accessibility"])
    assert default == tuple(b for b in SEEDED_BUGS if b.category in functional | {"accessibility"})
    assert len(default) == 9
    assert [b.id for b in bugs_for_types({"performance"})] == ["slow-page", "layout-shift"]
    assert [b.id for b in bugs_for_types(("visual", "api"))] == ["visual-change", "api-schema"]
    assert bugs_for_types(TEST_TYPES) == SEEDED_BUGS and bugs_for_types([]) == ()
    with pytest.raises(ValueError, match="a11y"):
        bugs_for_types(["functional", "a11y"])


def test_readme_documents_every_bug() -> None:
    readme = (ROOT / "demo" / "README.md").read_text(encoding="utf-8")
    for entry in SEEDED_BUGS:
        assert entry.id in readme and entry.path in readme


# --- healthy mode ----------------------------------------------------------


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


def fill_contact(page: Page) -> None:
    """Fill the contact form with values every constraint accepts."""
    for name in ("name", "email", "phone", "order", "website", "message"):
        page.fill(f"#{name}", CONTACT_OK[name])
    page.select_option("#topic", CONTACT_OK["topic"])
    page.check("input[name=contact_method][value=email]")
    page.check("input[name=consent]")


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


# --- bug mode ----------------------------------------------------------------


def check_broken_link(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    assert entry.path in crawl["/"].links
    assert crawl[entry.path].status == 404


def check_error_on_load(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    errors = crawl[entry.path].observed.page_errors
    assert any("dataset" in e for e in errors), errors


def check_failing_request(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    assert (500, "/api/stats") in crawl[entry.path].observed.bad_responses


def check_console_error(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    errors = crawl[entry.path].observed.app_console_errors()
    assert any("Recommendations widget" in e for e in errors), errors


def check_broken_image(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    holders = [p for p, r in crawl.items() if (404, entry.path) in r.observed.bad_responses]
    assert holders == ["/products"]
    assert crawl["/products"].broken_images == [entry.path]


def check_accessibility(entry: SeededBug, crawl: dict[str, PageReport], **_: object) -> None:
    expected = {"/about": {"image-alt", "color-contrast"}, "/newsletter": {"label", "button-name"}}
    assert expected[entry.path] <= set(crawl[entry.path].violations)


def check_form_500(entry: SeededBug, browser: Browser, base: str, **_: object) -> None:
    with observed_page(browser, base) as (page, _observed):
        load(page, base + entry.path)
        fill_contact(page)
        with page.expect_navigation() as nav:
            page.click("button[type=submit]")
        assert nav.value.status == 500
        assert "Something went wrong" in page.get_by_role("alert").inner_text()


def check_button_throws(entry: SeededBug, browser: Browser, base: str, **_: object) -> None:
    with observed_page(browser, base) as (page, observed):
        load(page, base + entry.path)
        assert observed.page_errors == []
        with page.expect_event("pageerror"):
            page.get_by_role("button", name="Check availability").click()
    assert any("inventory" in e for e in observed.page_errors), observed.page_errors


def check_slow_page(entry: SeededBug, browser: Browser, base: str, **_: object) -> None:
    started = time.monotonic()
    status, _body = fetch(base + entry.path)
    seconds = time.monotonic() - started
    assert status == 200 and seconds >= 1.0 > TTFB_BUDGET_S
    blocking, names = store_locator_blocking(browser, base)
    assert names == [s.name for s in STORES]  # /api/stores works in both modes
    assert blocking >= TBT_BUDGET_MS + 50, blocking


def check_layout_shift(entry: SeededBug, browser: Browser, base: str, **_: object) -> None:
    shift = layout_shift_after_load(browser, base, entry.path, "#journal-banner")
    assert shift >= 0.25 > CLS_BUDGET, shift


def check_visual_change(entry: SeededBug, browser: Browser, **_: object) -> None:
    first, second = version_screenshots(browser, True, ["/contact", entry.path])
    assert first["/contact"] == second["/contact"]
    assert changed_fraction(first[entry.path], second[entry.path]) >= 0.05


def check_api_schema(entry: SeededBug, base: str, **_: object) -> None:
    assert schema_errors(base, entry.path) == ["2/price: '54.00' is not of type 'number'"]
    assert schema_errors(base, "/api/stores") == []
    assert schema_errors(base, "/api/products/camp-stove", "/api/products/{slug}") == []


CHECKS: dict[str, Callable[..., None]] = {
    "broken-link": check_broken_link,
    "error-on-load": check_error_on_load,
    "failing-request": check_failing_request,
    "console-error": check_console_error,
    "broken-image": check_broken_image,
    "form-500": check_form_500,
    "button-throws": check_button_throws,
    "slow-page": check_slow_page,
    "layout-shift": check_layout_shift,
    "visual-change": check_visual_change,
    "api-schema": check_api_schema,
}


@pytest.mark.parametrize("entry", SEEDED_BUGS, ids=[b.id for b in SEEDED_BUGS])
def test_seeded_bug_is_observable(
    entry: SeededBug, browser: Browser, buggy: str, buggy_crawl: dict[str, PageReport]
) -> None:
    check = check_accessibility if entry.category == "accessibility" else CHECKS[entry.id]
    check(entry, crawl=buggy_crawl, browser=browser, base=buggy)


def test_bugs_stay_on_their_own_pages(buggy_crawl: dict[str, PageReport]) -> None:
    """Each page-level signal shows up only where the bug list says, so scoring is exact."""
    a11y_pages = {b.path for b in SEEDED_BUGS if b.category == "accessibility"}
    pages_with = {
        "pageerror": {p for p, r in buggy_crawl.items() if r.observed.page_errors},
        "console": {p for p, r in buggy_crawl.items() if r.observed.app_console_errors()},
        "http": {p for p, r in buggy_crawl.items() if r.observed.bad_responses},
        "axe": {p for p, r in buggy_crawl.items() if r.violations},
    }
    assert pages_with == {
        "pageerror": {bug("error-on-load").path},
        "console": {bug("console-error").path},
        "http": {"/products", bug("failing-request").path, bug("broken-link").path},
        "axe": a11y_pages,
    }
    assert set(buggy_crawl) == EXPECTED_PAGES


# --- lab routes --------------------------------------------------------------


def test_lab_pages(browser: Browser, buggy: str) -> None:
    with observed_page(browser, buggy) as (page, observed):
        dialogs: list[str] = []

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        load(page, buggy + "/lab/ok")
        assert page.get_by_role("heading", level=1).inner_text() == "Lab"
        page.get_by_role("button", name="Ping").click()
        assert page.get_by_role("status").inner_text() == "Pong"
        assert axe_violations(page) == []
        load(page, buggy + "/lab/fail")
        assert page.get_by_role("heading", level=1).inner_text() == "Lab failure"
        load(page, buggy + "/lab/xss")
        assert page.title() == "<script>alert(1)</script> Lab"
        assert page.get_by_role("heading", level=1).inner_text() == "XSS lab"
    assert dialogs == [] and observed.problems() == []
    status, body = fetch(buggy + "/lab/xss")
    assert status == 200 and "<title>&lt;script&gt;alert(1)&lt;/script&gt; Lab</title>" in body


def test_lab_flaky_fails_n_times_then_recovers(healthy: str) -> None:
    url = healthy + "/lab/flaky?key=flaky-test&fail=2"
    statuses = [fetch(url)[0] for _ in range(2)]
    status, body = fetch(url)
    assert statuses == [500, 500] and status == 200 and "Recovered" in body
    assert fetch(healthy + "/lab/flaky?key=other&fail=0")[0] == 200


def test_lab_flaky_counter_is_thread_safe(healthy: str) -> None:
    url = healthy + "/lab/flaky?key=race&fail=20"
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: fetch(url)[0], range(30)))
    assert sorted(statuses) == [200] * 10 + [500] * 20


def test_lab_slow_waits_and_is_capped(healthy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    status, body = fetch(healthy + "/lab/slow?ms=300")
    assert status == 200 and "Waited 300 ms." in body
    assert time.monotonic() - started >= 0.3

    slept: list[float] = []
    monkeypatch.setattr(lab, "time", SimpleNamespace(sleep=slept.append))
    client = create_app(bugs=False).test_client()
    assert client.get("/lab/slow?ms=999999").status_code == 200
    assert client.get("/lab/slow?ms=-5").status_code == 200
    assert client.get("/lab/slow?ms=soon").status_code == 400
    assert slept == [60.0, 0.0]


def test_server_serves_concurrent_requests(healthy: str) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        slow = list(pool.map(lambda _: fetch(healthy + "/lab/slow?ms=400")[0], range(8)))
    assert slow == [200] * 8 and time.monotonic() - started < 2.5  # serially: 3.2 s
    paths = sorted(EXPECTED_PAGES) * 6
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda p: fetch(healthy + p)[0], paths))
    assert statuses == [200] * len(paths)


# --- server lifecycle --------------------------------------------------------


def test_demo_server_lifecycle() -> None:
    server = DemoServer(bugs=False)
    with pytest.raises(RuntimeError):
        _ = server.url
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.start() == url == server.url
    assert fetch(url + "/")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url
    with DemoServer(bugs=True) as again:
        assert fetch(again.url + "/careers")[0] == 404


def test_serve_forever_prints_url_and_stops_on_ctrl_c() -> None:
    code = "from demo.server import serve_forever; serve_forever(bugs=False, port=0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        assert fetch(url + "/lab/ok")[0] == 200
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and "Stopped" in out
