"""The dashboard in real Chromium: signing in, a run started and watched live, hostile text.

The server is the real app on a real HTTP server (embedded mode); runs test
the demo shop, or a hostile site served here on 127.0.0.1:0.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import server_settings

FINAL = ("passed", "failed", "error")
# What a hostile target puts in its title, console, errors and links.
IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
SCRIPT = "<script>window.__pwned=1;alert(2)</script>"
INJECTED_SCRIPTS = "[...document.scripts].filter(s => s.text.includes('__pwned')).length"


@dataclass
class Watched:
    """What a page did that it should not have: dialogs, CSP refusals."""

    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[tuple[Page, Watched]]:
    tab = context.new_page()
    watched = Watched()

    def on_dialog(dialog: object) -> None:
        watched.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    tab.on("dialog", on_dialog)
    tab.on(
        "console",
        lambda m: watched.csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield tab, watched


@pytest.fixture
def quick_api(tmp_path: Path) -> Iterator[ApiServer]:
    """The API as in ``api``, with no retries: a failing test fails once, and runs end sooner."""
    server = ApiServer(server_settings(tmp_path, test_retries=0)).start()
    yield server
    server.stop()


def sign_in(page: Page, base: str, role: str, path: str = "/") -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("Email").fill(f"{role}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(f"{role}@example.com", timeout=15_000)


def wait_until_ended(api: ApiServer, run_id: str, timeout_s: float = 180) -> str:
    with api.client("viewer") as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/runs/{run_id}/status").json()["status"]
            if status in FINAL:
                return str(status)
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end within {timeout_s} s")


def test_pages_need_sign_in_and_viewers_cannot_start_runs(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    tab, watched = page
    # Given no session, a page sends you to sign in, and remembers where you were going
    tab.goto(f"{api.url}/runs?status=failed")
    expect(tab).to_have_url(re.compile(r"/login\?next="))
    assert parse_qs(urlsplit(tab.url).query)["next"] == ["/runs?status=failed"]
    # A wrong password says so
    tab.get_by_label("Email").fill("viewer@example.com")
    tab.get_by_label("Password").fill("not the password")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.locator("#login-error")).to_be_visible()
    expect(tab.locator("#who")).to_have_count(0)
    # The right one lands on the page asked for, signed in as a viewer
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{api.url}/runs?status=failed")
    expect(tab.locator("#who")).to_contain_text("viewer@example.com")
    expect(tab.locator("#who .role")).to_have_text("viewer")
    # A viewer sees the overview, its agents summary, but no form to start a run
    tab.goto(f"{api.url}/")
    # before the first run, an embedded server's agents are idle, not unhealthy: nothing red
    summary = tab.locator("[data-system=summary]")
    expect(summary).to_contain_text("embedded: the 6 agents' workers start with the first run")
    expect(summary.locator(".s-idle")).to_have_text("idle")
    expect(summary.locator(".bad, .s-degraded")).to_have_count(0)
    expect(tab.locator("#start-run")).to_have_count(0)
    assert watched.csp == []


def test_editor_starts_a_run_from_the_dashboard_and_watches_it_finish(
    quick_api: ApiServer, demo: str, page: tuple[Page, Watched]
) -> None:
    tab, watched = page
    sign_in(tab, quick_api.url, "editor")
    # When the editor starts a functional run on the demo shop
    form = tab.locator("#start-run")
    form.get_by_label("URL").fill(demo)
    form.get_by_label("accessibility").uncheck()
    form.get_by_label("Max pages").fill("2")
    form.get_by_role("button", name="Start run").click()
    # Then the run's page follows the tests as they finish, live
    # (the first run starts the embedded workers: slow on a busy machine)
    expect(tab).to_have_url(re.compile(r"/runs/r-[\w-]+$"), timeout=30_000)
    run_id = tab.url.rsplit("/", 1)[1]
    expect(tab.locator("#live-note")).to_have_text("Live.")  # over the WebSocket
    finished = tab.locator("#live-tests tr[data-status=passed], #live-tests tr[data-status=failed]")
    expect(finished.first).to_be_visible(timeout=120_000)
    # And shows the outcome when the run ends: the seeded bugs fail, with evidence
    expect(tab.locator("#run-status")).to_have_text(
        re.compile("passed|failed|error"), timeout=180_000
    )
    expect(tab.locator("#run-status")).to_have_text("failed")
    failures = tab.locator("#failures .result")
    expect(failures.first).to_be_visible()
    expect(failures.first.locator(".error-text")).not_to_be_empty()
    expect(failures.first.locator(".steps li").first).to_be_visible()
    shot = tab.locator("#failures .shot img").first
    shot.scroll_into_view_if_needed()
    expect(shot).to_have_js_property("complete", True)
    assert shot.evaluate("img => img.naturalWidth") > 0
    counts = tab.locator("#run-counts")
    expect(counts.locator(".c-failed strong")).not_to_have_text("0")
    # The report opens, with the same credentials
    href = tab.locator("#report-html").get_attribute("href")
    assert href == f"/api/v1/runs/{run_id}/report/report.html"
    report = tab.request.get(f"{quick_api.url}{href}")
    assert report.status == 200 and report.headers["content-type"].startswith("text/html")
    pdf_href = tab.get_by_role("link", name="report.pdf").get_attribute("href")
    pdf = tab.request.get(f"{quick_api.url}{pdf_href}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    # The overview shows the run and draws its trend
    tab.goto(f"{quick_api.url}/")
    expect(tab.locator(f"#runs-table tr[data-run-id='{run_id}']")).to_be_visible()
    expect(tab.locator(".chart polyline.line")).to_have_count(2)
    assert watched.csp == [] and watched.dialogs == []


class Hostile(BaseHTTPRequestHandler):
    """Two pages whose title, link text, console errors and thrown errors carry markup."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path not in ("/", "/next"):
            self.send_error(404)
            return
        in_js = json.dumps(f"{IMG} {SCRIPT}").replace("</", "<\\/")
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(IMG)} shop</title></head><body><main>
<h1>Welcome {html.escape(SCRIPT)}</h1>
<a href="/next">{html.escape(IMG)} next</a>
<script>console.error({in_js}); setTimeout(function () {{ throw new Error({in_js}); }});</script>
</main></body></html>"""
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_hostile_page_text_never_runs_in_the_dashboard_or_report(
    quick_api: ApiServer, hostile: str, page: tuple[Page, Watched]
) -> None:
    tab, watched = page
    # Given a run of a site whose texts are script payloads
    with quick_api.client("editor") as client:
        body = {"url": hostile, "types": ["functional"], "max_pages": 2}
        accepted = client.post("/api/v1/tests/execute", json=body)
        assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    assert wait_until_ended(quick_api, run_id) == "failed"
    sign_in(tab, quick_api.url, "viewer", f"/runs/{run_id}")
    # When the run's page, the runs list and the report are opened, nothing runs
    pages = {
        "run": f"{quick_api.url}/runs/{run_id}",
        "runs": f"{quick_api.url}/runs",
        "report": f"{quick_api.url}/api/v1/runs/{run_id}/report/report.html",
    }
    for name, url in pages.items():
        tab.goto(url)
        tab.wait_for_load_state("networkidle")
        assert tab.evaluate("typeof window.__pwned") == "undefined", name
        # The payloads were not parsed as markup either (the CSP is a second line only)
        assert tab.locator("img[src=x]").count() == 0, name
        assert tab.evaluate(INJECTED_SCRIPTS) == 0, name
        if name != "runs":  # the payloads show as text
            expect(tab.get_by_text(IMG).first).to_be_attached()
            expect(tab.get_by_text(SCRIPT).first).to_be_attached()
    assert watched.dialogs == []


def test_editors_quarantine_suite_cases_and_viewers_only_read_them(
    api: ApiServer, page: tuple[Page, Watched], browser: Browser
) -> None:
    spec = {
        "id": "home",
        "name": f"Home {IMG}",
        "url": "http://127.0.0.1:9/",
        "steps": [{"action": "goto", "url": "/"}],
    }
    body = {"name": f"Smoke {SCRIPT}", "target": "http://127.0.0.1:9/", "tests": [spec]}
    with api.client("editor") as client:
        created = client.post("/api/v1/suites", json=body)
        assert created.status_code == 201, created.text
    suite_id = created.json()["id"]
    tab, watched = page
    # Given an editor on the suites list, the suite's name shows as text
    sign_in(tab, api.url, "editor", "/suites")
    tab.get_by_role("link", name=f"Smoke {SCRIPT}").click()
    expect(tab.locator("[data-case-id=home] .name")).to_have_text(f"Home {IMG}")
    # When the editor quarantines the case, it is saved
    box = tab.locator("[data-case-id=home] input[data-field=quarantined]")
    box.check()
    with api.client("viewer") as client:
        case = f"/api/v1/suites/{suite_id}/cases/home"
        deadline = time.monotonic() + 10
        while not client.get(case).json()["quarantined"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get(case).json()["quarantined"] is True
    expect(box).to_be_enabled()
    expect(tab.locator("#suite-error")).to_be_hidden()
    # A viewer sees the same state and cannot change it
    viewer = browser.new_context()
    try:
        other = viewer.new_page()
        sign_in(other, api.url, "viewer", f"/suites/{suite_id}")
        expect(other.locator("[data-case-id=home] input[data-field=quarantined]")).to_be_checked()
        expect(other.locator("[data-case-id=home] input[data-field=enabled]")).to_be_disabled()
    finally:
        viewer.close()
    assert tab.evaluate("typeof window.__pwned") == "undefined" and watched.dialogs == []


def test_sign_out_ends_the_session_and_cookie_writes_need_the_csrf_token(
    api: ApiServer, page: tuple[Page, Watched], context: BrowserContext
) -> None:
    tab, _ = page
    sign_in(tab, api.url, "editor")
    token = next(c["value"] for c in context.cookies() if c["name"] == "matf_csrf")
    cancel = f"{api.url}/api/v1/runs/r-none/cancel"
    # A write with the session cookie but no CSRF token is refused; with it, it gets through
    assert tab.request.post(cancel).status == 403
    assert tab.request.post(cancel, headers={"X-CSRF-Token": "wrong"}).status == 403
    assert tab.request.post(cancel, headers={"X-CSRF-Token": token}).status == 404
    # Signing out ends the session: pages send you to sign in again
    tab.get_by_role("button", name="Sign out").click()
    expect(tab).to_have_url(re.compile(r"/login$"))
    tab.goto(f"{api.url}/system")
    expect(tab).to_have_url(f"{api.url}/login?next=/system")
    assert not [c for c in context.cookies() if c["name"] == "matf_session"]


def test_editors_review_visual_changes_on_the_baselines_page(
    api: ApiServer, page: tuple[Page, Watched]
) -> None:
    from tests.web.test_baselines import _seed

    pending = _seed(api)  # a recorded baseline and a pending change, as a run leaves them
    tab, watched = page
    # Given an editor on the baselines page, the change shows with its diff and capture
    sign_in(tab, api.url, "editor", "/baselines")
    item = tab.locator(f"[data-baseline-id='{pending}']")
    expect(item.get_by_role("img", name="differences (red)")).to_be_visible()
    capture = item.get_by_role("img", name="the new capture")  # lazy: loads when near the view
    capture.scroll_into_view_if_needed()
    expect(capture).to_have_js_property("complete", True)
    assert capture.evaluate("i => i.naturalWidth") == 40
    # When the editor approves it, it becomes the baseline
    item.get_by_role("button", name="Approve").click()
    expect(item.locator("[data-outcome]")).to_have_text("approved")
    with api.client("viewer") as client:
        [row] = client.get("/api/v1/baselines", params={"status": "approved"}).json()["items"]
    assert row["id"] == pending and row["decided_by"] == "user:editor@example.com"
    tab.reload()
    expect(tab.get_by_text("No visual change is waiting for review.")).to_be_visible()
    assert watched.csp == [] and watched.dialogs == []
