"""Behaviour of the report writers: junit.xml for CI, report.html for people.

Strings in a report come from the tested site, so these tests feed hostile
values (markup, script URLs, control characters) and check that both outputs
stay well-formed and inert.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from matf.browser.launch import launch
from matf.reports.html import write_html
from matf.reports.junit import write_junit

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
AXE_HELP = "https://dequeuniversity.com/rules/axe/4.8/image-alt"


def _png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """Make a small valid PNG without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _test(case_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """Build one test entry of report.json with quiet defaults."""
    browser = extra.pop("browser", "chromium")
    entry: dict[str, Any] = {
        "id": f"{case_id}:{browser}",
        "case_id": case_id,
        "name": f"Test {case_id}",
        "kind": "functional",
        "category": "page",
        "browser": browser,
        "status": status,
        "url": "http://127.0.0.1:8000/",
        "duration_ms": 812,
        "attempts": 1,
        "error": None,
        "violations": [],
        "artifacts": {"screenshot": None, "trace": None},
        "steps": [],
        "console_errors": [],
        "page_errors": [],
        "failed_requests": [],
        "attempt_errors": [],
    }
    entry.update(extra)
    return entry


def _step(index: int, action: str, description: str, status: str, error: str | None) -> dict:
    duration_ms = 300 + 100 * index
    return dict(
        index=index,
        action=action,
        description=description,
        status=status,
        error=error,
        duration_ms=duration_ms,
    )


def _request(method: str, url: str, status: int | None, failure: str | None) -> dict:
    return dict(url=url, method=method, status=status, failure=failure)


def _violation(rule: str, impact: str, nodes: int, description: str, help_url: str) -> dict:
    return dict(rule=rule, impact=impact, nodes=nodes, description=description, help_url=help_url)


def _report() -> dict[str, Any]:
    """A run with every status, two browsers and hostile strings from the site."""
    tests = [
        _test("page-home", "passed", name="Page / loads cleanly", duration_ms=420),
        _test(
            "page-evil",
            "failed",
            name=f"Page title {XSS_SCRIPT}",
            url="http://127.0.0.1:8000/evil?q=<b>",
            duration_ms=1530,
            error=f"Title was {XSS_IMG}\nexpected 'Shop'\n  at step 2",
            artifacts={
                "screenshot": "artifacts/page-evil-chromium.png",
                "trace": "artifacts/page-evil-chromium.zip",
            },
            steps=[
                _step(0, "goto", "go to /evil", "passed", None),
                _step(1, "expect_title", f"title is {XSS_SCRIPT}", "failed", XSS_IMG),
            ],
            console_errors=[f"Uncaught {XSS_SCRIPT}"],
            page_errors=["ReferenceError: boom is not defined"],
            failed_requests=[
                _request("POST", "http://127.0.0.1:8000/api", 500, None),
                _request("GET", "http://127.0.0.1:8000/x.js", None, "net::ERR_CONNECTION_REFUSED"),
            ],
        ),
        _test(
            "a11y-home",
            "failed",
            name="Accessibility of /",
            kind="accessibility",
            category="accessibility",
            error="2 accessibility violations",
            violations=[
                _violation("image-alt", "critical", 2, f"Images need alt text {XSS_IMG}", AXE_HELP),
                _violation("evil-rule", "minor", 1, "sneaky", "javascript:alert(1)"),
            ],
        ),
        _test(
            "form-login",
            "error",
            name="Form login submits",
            category="form",
            error="Browser crashed\nTarget closed",
        ),
        _test(
            "link-about",
            "flaky",
            name="Link /about works",
            category="link",
            attempts=3,
            attempt_errors=["Timeout 5000ms exceeded\nwaiting for selector", "net::ERR_ABORTED"],
        ),
        _test(
            "button-buy",
            "skipped",
            name="Button Buy clicks",
            category="button",
            error="Skipped: needs login",
            duration_ms=0,
        ),
        _test("page-home", "passed", name="Page / loads cleanly", browser="firefox"),
    ]
    return {
        "schema_version": 1,
        "run": {
            "id": "r-20261128-abc123",
            "target": "http://127.0.0.1:8000/",
            "status": "failed",
            "started_at": "2026-11-28T16:00:00+00:00",
            "finished_at": "2026-11-28T16:00:12+00:00",
            "duration_s": 12.3,
            "browsers": ["chromium", "firefox"],
            "types": ["functional", "accessibility"],
            "error": None,
            "counts": {"total": 7, "passed": 2, "failed": 2, "flaky": 1, "error": 1, "skipped": 1},
        },
        "tests": tests,
    }


@pytest.fixture
def report() -> dict[str, Any]:
    return _report()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An output folder holding the failed test's screenshot, as the runner leaves it."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "page-evil-chromium.png").write_bytes(_png())
    (artifacts / "page-evil-chromium.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return tmp_path


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_junit_counts_and_testcases_match_report(report: dict[str, Any], out_dir: Path) -> None:
    path = write_junit(report, out_dir)
    assert path == out_dir / "junit.xml"
    root = ET.parse(path).getroot()

    assert root.tag == "testsuites"
    assert root.get("name") == "matf"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "7",
        "2",
        "1",
        "1",
    )
    assert root.get("time") == "12.300"

    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["matf.chromium", "matf.firefox"]
    chromium = suites["matf.chromium"]
    assert [chromium.get(k) for k in ("tests", "failures", "errors", "skipped")] == [
        "6",
        "2",
        "1",
        "1",
    ]
    assert chromium.get("timestamp") == "2026-11-28T16:00:00"
    assert suites["matf.firefox"].get("tests") == "1"
    assert suites["matf.firefox"].get("failures") == "0"

    cases = _cases(root)
    assert len(list(root.iter("testcase"))) == len(report["tests"])
    expected = {(f"matf.{t['browser']}.{t['category']}", t["name"]) for t in report["tests"]}
    assert set(cases) == expected
    assert cases[("matf.chromium.page", "Page / loads cleanly")].get("time") == "0.420"
    assert all(c.get("file") is None for c in cases.values())


def test_junit_outcome_elements(report: dict[str, Any], out_dir: Path) -> None:
    cases = _cases(ET.parse(write_junit(report, out_dir)).getroot())

    failed = cases[("matf.chromium.page", f"Page title {XSS_SCRIPT}")]
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("type") == "AssertionError"
    assert failure.get("message") == f"Title was {XSS_IMG}"
    assert failure.text == report["tests"][1]["error"]
    system_out = failed.findtext("system-out") or ""
    assert "URL: http://127.0.0.1:8000/evil?q=<b>" in system_out
    assert f"Uncaught {XSS_SCRIPT}" in system_out
    assert "ReferenceError: boom is not defined" in system_out
    assert "POST http://127.0.0.1:8000/api -> 500" in system_out
    assert "net::ERR_CONNECTION_REFUSED" in system_out

    a11y = cases[("matf.chromium.accessibility", "Accessibility of /")].find("failure")
    assert a11y is not None and "image-alt" in (a11y.text or "")

    error = cases[("matf.chromium.form", "Form login submits")].find("error")
    assert error is not None
    assert (error.get("type"), error.get("message")) == ("Error", "Browser crashed")
    assert error.text == "Browser crashed\nTarget closed"

    skipped = cases[("matf.chromium.button", "Button Buy clicks")].find("skipped")
    assert skipped is not None and skipped.get("message") == "Skipped: needs login"

    passed = cases[("matf.chromium.page", "Page / loads cleanly")]
    assert [child.tag for child in passed] == ["system-out"]
    assert "Console errors" not in (passed.findtext("system-out") or "")


def test_junit_flaky_is_a_passed_case_with_surefire_flaky_failures(
    report: dict[str, Any], out_dir: Path
) -> None:
    cases = _cases(ET.parse(write_junit(report, out_dir)).getroot())
    flaky = cases[("matf.chromium.link", "Link /about works")]

    assert flaky.find("failure") is None and flaky.find("error") is None
    props = {p.get("name"): p.get("value") for p in flaky.iterfind("properties/property")}
    assert props == {"flaky": "true", "attempts": "3"}
    attempts = flaky.findall("flakyFailure")
    assert [a.get("message") for a in attempts] == ["Timeout 5000ms exceeded", "net::ERR_ABORTED"]
    assert all(a.get("type") for a in attempts)
    assert attempts[0].findtext("stackTrace") == "Timeout 5000ms exceeded\nwaiting for selector"


def test_junit_strips_illegal_xml_characters(report: dict[str, Any], out_dir: Path) -> None:
    report["tests"][1]["name"] = "bad\x00na\x08me\x1b\ufffe\ud800"
    report["tests"][1]["error"] = "first\x0c line\tok\nsecond\x7f line"
    report["tests"][1]["console_errors"] = ["\x01\x02console"]
    report["tests"][4]["attempt_errors"] = ["\x03retry\x1f"]

    path = write_junit(report, out_dir)
    raw = path.read_bytes()
    root = ET.fromstring(raw)

    case = _cases(root)[("matf.chromium.page", "badname")]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "first line\tok"
    assert failure.text == "first line\tok\nsecond\x7f line"
    assert "console" in (case.findtext("system-out") or "")
    flaky = root.find(".//testcase[@name='Link /about works']/flakyFailure")
    assert flaky is not None and flaky.get("message") == "retry"
    for illegal in (b"\x00", b"\x01", b"\x08", b"\x0c", b"\x1b", b"&#0;", b"&#8;"):
        assert illegal not in raw


def test_writers_replace_files_atomically(report: dict[str, Any], out_dir: Path) -> None:
    (out_dir / "junit.xml").write_text("stale")
    (out_dir / "report.html").write_text("stale")
    write_junit(report, out_dir)
    write_html(report, out_dir)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["artifacts", "junit.xml", "report.html"]
    assert (out_dir / "junit.xml").read_text().startswith("<?xml")


def test_html_lists_every_test_failures_first(report: dict[str, Any], out_dir: Path) -> None:
    path = write_html(report, out_dir)
    assert path == out_dir / "report.html"
    html = path.read_text(encoding="utf-8")

    for test in report["tests"]:
        assert str(escape(test["name"])) in html
    order = re.findall(r'<li class="test s-\w+" data-status="(\w+)"', html)
    assert order == ["failed", "failed", "error", "flaky", "skipped", "passed", "passed"]
    assert 'data-filter="failed" aria-pressed="false">Failed<span class="count">2</span>' in html
    assert "r-20261128-abc123" in html and "2026-11-28 16:00:00 UTC" in html


def test_html_is_self_contained_with_strict_csp(report: dict[str, Any], out_dir: Path) -> None:
    html = write_html(report, out_dir).read_text(encoding="utf-8")

    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp is not None
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9+/=]+)'", csp.group(1))
    assert nonce is not None
    assert "default-src 'none'" in csp.group(1) and "img-src data:" in csp.group(1)
    assert re.findall(r"<script[^>]*>", html) == [f'<script nonce="{nonce.group(1)}">']
    assert not re.search(r'<link\b|\bsrc="(?!data:)|url\(', html)
    for external in re.findall(r'<a href="https?://[^"]*"[^>]*>', html):
        assert 'rel="noopener noreferrer"' in external
    assert "innerHTML" not in html

    again = write_html(report, out_dir).read_text(encoding="utf-8")
    assert f"nonce-{nonce.group(1)}" not in again


def test_html_escapes_untrusted_strings(report: dict[str, Any], out_dir: Path) -> None:
    report["run"]["target"] = f"http://evil.test/{XSS_SCRIPT}"
    html = write_html(report, out_dir).read_text(encoding="utf-8")

    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script") == 1


def test_html_links_only_http_help_urls(report: dict[str, Any], out_dir: Path) -> None:
    html = write_html(report, out_dir).read_text(encoding="utf-8")

    assert 'href="javascript:' not in html.replace("&#34;", '"')
    assert "javascript:alert(1)" in html
    assert f'<a href="{AXE_HELP}" rel="noopener noreferrer" target="_blank">' in html
    assert 'href="artifacts/page-evil-chromium.zip"' in html


def test_html_embeds_screenshot_as_data_uri(report: dict[str, Any], out_dir: Path) -> None:
    png = (out_dir / "artifacts" / "page-evil-chromium.png").read_bytes()
    html = write_html(report, out_dir).read_text(encoding="utf-8")
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in html


def test_html_tolerates_missing_or_outside_screenshots(
    report: dict[str, Any], out_dir: Path
) -> None:
    (out_dir / "artifacts" / "page-evil-chromium.png").unlink()
    outside = out_dir.parent / f"{out_dir.name}-secret.png"
    outside.write_bytes(_png())
    evil = copy.deepcopy(report["tests"][2])
    evil["artifacts"] = {"screenshot": f"../{outside.name}", "trace": "javascript:alert(1)"}
    report["tests"].append(evil)

    html = write_html(report, out_dir).read_text(encoding="utf-8")
    assert "data:image" not in html
    assert "artifacts/page-evil-chromium.png" in html
    assert 'href="javascript' not in html
    assert 'href="../' not in html


def test_html_shows_run_error(report: dict[str, Any], out_dir: Path) -> None:
    report["run"].update(status="error", error=f"Target unreachable {XSS_SCRIPT}")
    report["tests"] = []
    html = write_html(report, out_dir).read_text(encoding="utf-8")
    alert = re.search(r'<section class="run-error" role="alert">(.*?)</section>', html, re.S)
    assert alert is not None
    assert "Target unreachable &lt;script&gt;" in alert.group(1)
    assert "This run has no tests." in html


def _keep_problem(problems: list[str], kind: str, text: str) -> None:
    """Collect console errors and warnings; CSP violations are reported as console errors."""
    if kind in ("error", "warning"):
        problems.append(text)


def _dismiss(dialogs: list[str], dialog: Any) -> None:
    """Record and close any alert/confirm/prompt, which would mean injected script ran."""
    dialogs.append(dialog.message)
    dialog.dismiss()


def test_html_in_real_chromium(report: dict[str, Any], out_dir: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = write_html(report, out_dir)

    problems: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = launch(pw, "chromium", None)  # the product's own launcher
        try:
            page = browser.new_page()
            page.on("console", lambda m: _keep_problem(problems, m.type, m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: _dismiss(dialogs, d))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())

            assert page.evaluate("document.documentElement.classList.contains('js')")
            passed_row = page.locator('li.test[data-status="passed"]').first
            failed_row = page.locator('li.test[data-status="failed"]').first
            assert passed_row.is_visible() and failed_row.is_visible()

            page.click('button[data-filter="failed"]')
            assert failed_row.is_visible()
            assert not passed_row.is_visible()
            failed_button = page.locator('button[data-filter="failed"]')
            assert failed_button.get_attribute("aria-pressed") == "true"

            page.click('button[data-filter="all"]')
            assert passed_row.is_visible()

            failed_row.locator("summary").click()
            shot = failed_row.locator("figure img")
            assert shot.is_visible()
            assert shot.evaluate("img => img.complete && img.naturalWidth") == 4
        finally:
            browser.close()

    assert problems == []
    assert dialogs == []
    assert all(url.startswith(("file:", "data:")) for url in requests)
