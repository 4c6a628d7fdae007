"""What a test observes of the demo site: pages in real Chromium, JSON, screenshots.

Shared by the demo-site tests: ``crawl`` visits every page as MATF's explorer
would and records its failure signals; the other helpers measure one thing each
(schema conformance, layout shift, blocking time, pixel changes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urldefrag, urlencode, urlsplit
from urllib.request import Request as HttpRequest
from urllib.request import urlopen

import jsonschema
import numpy as np
from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageChops
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response

from demo.account import LOGIN_PATH
from demo.backoffice import LINKED_VIEWS, RETURNS_PATH
from demo.catalog import PRODUCTS
from demo.server import DemoServer

ROOT = Path(__file__).resolve().parents[2]
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
    LOGIN_PATH,  # "Sign in" in the main navigation; an anonymous crawl sees only the form
}
# The back office's linked views, and the page its shadow-root link points at.
APP_PAGES = {*LINKED_VIEWS, RETURNS_PATH}
EXPECTED_PAGES = MAIN_PAGES | APP_PAGES | {f"/products/{p.slug}" for p in PRODUCTS}
# Buttons no explorer (and no test crawl) may press: they look destructive.
DESTRUCTIVE = re.compile(r"delete|remove", re.I)
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
    """Click every ``type=button`` button once, as MATF's explorer would.

    Destructive-looking ones are left alone, as MATF leaves them; the count
    includes them.
    """
    buttons = page.locator("button[type=button]")
    count = buttons.count()
    for index in range(count):
        if not DESTRUCTIVE.search(buttons.nth(index).inner_text()):
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


def fill_contact(page: Page) -> None:
    """Fill the contact form with values every constraint accepts."""
    for name in ("name", "email", "phone", "order", "website", "message"):
        page.fill(f"#{name}", CONTACT_OK[name])
    page.select_option("#topic", CONTACT_OK["topic"])
    page.check("input[name=contact_method][value=email]")
    page.check("input[name=consent]")
