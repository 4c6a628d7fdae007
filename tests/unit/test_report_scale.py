"""Reports of many results: report.html pages and filters in real Chromium, the files stay valid.

A run of 300 results: 60 failed, one errored with a hostile name (on the second
page of "All"), flaky, accessibility and passed tests. The report is written
by the real reporter from a real SQLite run, opened from disk (file://) with
no network.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from playwright.sync_api import Browser, Page

from matf.agents.reporter import build_document, write_reports
from matf.options import RunOptions
from matf.reports.html import render_html
from matf.results import TestResult
from matf.storage.db import make_engine, migrate, session_scope
from matf.storage.runs import create_run, finish_run, record_results
from tests.conftest import ROOT

TOTAL = 300
FAILED = 60
HOSTILE = '<img src=x onerror="window.__pwned=1;alert(1)"></script><script>alert(2)</script>\u2028'


def _result(run_id: str, i: int) -> TestResult:
    status = "failed" if i < FAILED else "passed"
    extra: dict[str, Any] = {}
    if status == "failed":
        extra = {"error": f"expected 2xx, got 500 (test {i})", "console_errors": ["boom"]}
    if i == 200:
        status, extra = "error", {"error": f"crashed {HOSTILE}"}
    elif i % 7 == 3 and i >= FAILED:
        status, extra = "flaky", {"attempts": 2, "attempt_errors": ["timeout"]}
    kind = "accessibility" if i % 10 == 1 else "functional"
    return TestResult(
        run_id=run_id,
        case_id=f"case-{i:04d}",
        name=f"Crash {HOSTILE}" if i == 200 else f"Page {i} loads",
        kind=kind,
        category="accessibility" if kind == "accessibility" else "page",
        browser="chromium",
        status=status,
        url=f"http://shop.test/{i}",
        **extra,
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html, report.json and junit.xml of a 300-result run, written by the reporter."""
    folder = tmp_path_factory.mktemp("scale")
    engine = make_engine(f"sqlite:///{folder / 'matf.db'}")
    migrate(engine, folder / "matf.db")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, "http://shop.test/", RunOptions()).id
        record_results(session, [_result(run_id, i) for i in range(TOTAL)])
        finish_run(session, run_id, "failed", datetime.now(UTC))
    with session_scope(engine) as session:
        document = build_document(session, run_id)
    out = folder / "out"
    write_reports(document, out, folder / "artifacts", None)
    engine.dispose()
    return out


@pytest.fixture
def page(browser: Browser, reports: Path) -> Iterator[tuple[Page, list[str]]]:
    """report.html in a fresh tab; the list collects dialogs, page errors and non-file requests."""
    context = browser.new_context()
    tab = context.new_page()
    trouble: list[str] = []
    tab.on("dialog", lambda d: (trouble.append(f"dialog {d.message}"), d.dismiss()))
    tab.on("pageerror", lambda e: trouble.append(f"error {e}"))
    tab.on("console", lambda m: trouble.append(m.text) if m.type == "error" else None)
    tab.on(
        "request", lambda r: None if r.url.startswith(("file:", "data:")) else trouble.append(r.url)
    )
    tab.goto((reports / "report.html").as_uri())
    yield tab, trouble
    context.close()


def _shown(tab: Page) -> list[str]:
    return list(
        tab.locator("#tests > li.test").evaluate_all("els => els.map(e => e.dataset.testId)")
    )


def test_the_report_opens_on_one_page_of_tests_failures_first(page: tuple[Page, list[str]]) -> None:
    tab, trouble = page
    shown = _shown(tab)
    assert len(shown) == 50
    assert shown[0] == "case-0000:chromium"
    assert tab.locator("#shown").text_content() == f"1–50 of {TOTAL}"
    assert "case-0200:chromium" not in shown  # the error is past the first page
    tab.click("#next")
    assert _shown(tab)[10] == "case-0200:chromium"  # 60 failures, then the error
    assert tab.locator("#shown").text_content() == f"51–100 of {TOTAL}"
    assert trouble == []


def test_filtering_by_status_finds_the_error_past_the_first_page_as_escaped_text(
    page: tuple[Page, list[str]],
) -> None:
    tab, trouble = page
    tab.click('button[data-filter="error"]')
    assert _shown(tab) == ["case-0200:chromium"]
    row = tab.locator("#tests > li.test").first
    row.locator("summary").click()
    assert HOSTILE.replace("\u2028", "").strip() in (row.locator(".t-name").text_content() or "")
    assert "crashed <img" in (row.locator("pre").first.text_content() or "")
    assert tab.locator("#tests img").count() == 0  # the markup stayed text
    assert tab.evaluate("window.__pwned") is None
    assert trouble == []


def test_text_and_type_filters_work_over_every_row(page: tuple[Page, list[str]]) -> None:
    tab, trouble = page
    tab.fill("#find", "page 299 ")
    assert _shown(tab) == ["case-0299:chromium"]
    tab.fill("#find", "")
    tab.select_option("#kind", "accessibility")
    assert tab.locator("#shown").text_content() == f"1–{TOTAL // 10} of {TOTAL // 10}"
    tab.click('button[data-filter="passed"]')
    shown = _shown(tab)
    assert shown and all(int(s[5:9]) % 10 == 1 and int(s[5:9]) >= FAILED for s in shown)
    assert trouble == []


def test_json_and_junit_stay_valid_and_complete(reports: Path) -> None:
    data = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert len(data["tests"]) == TOTAL and data["run"]["counts"]["failed"] == FAILED
    assert any(t["name"] == f"Crash {HOSTILE}" for t in data["tests"])
    root = ET.parse(reports / "junit.xml").getroot()
    assert root.get("tests") == str(TOTAL) and root.get("failures") == str(FAILED)
    assert len(root.findall("./testsuite/testcase")) == TOTAL
    assert len(root.findall("./testsuite/testcase/failure")) == FAILED


def test_the_print_version_is_bounded_and_says_what_is_left_out(reports: Path) -> None:
    data = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    data["tests"] = data["tests"] * 10  # 3,000 results
    left = sum(t["status"] != "passed" for t in data["tests"]) - 100
    html = render_html(data, reports, for_print=True)
    assert html.count('<li class="test') == 100
    assert f"{left} more tests that did not pass in report.html." in html
    assert "2000 more in report.html." in html
    assert "<script" not in html and "<template" not in html
