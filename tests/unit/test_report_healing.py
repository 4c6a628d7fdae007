"""The healer's work as people see it: in report.html and in ``matf run``'s summary.

Locator names and errors come from the tested page or from the model, so a
hostile name must reach the report as text, never as markup.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli.campaign import Campaign, healer_line
from matf.options import RunOptions
from matf.reports.document import Counts, ReportDocument, ReportTest, RunSummary
from matf.reports.html import write_html
from matf.results import Healing, LocatorChange

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(1)</script>"
RUN_ID = "r-20261128-heal01"
RUN_HEALING = {
    "tests": 3,
    "proposals": 2,
    "passed": 1,
    "calls": 2,
    "prompt_tokens": 1834,
    "completion_tokens": 95,
}


def _result(case_id: str, healing: Healing | None, status: str = "failed") -> ReportTest:
    return ReportTest(
        id=f"{case_id}:chromium",
        run_id=RUN_ID,
        case_id=case_id,
        name=f"Form {case_id}",
        kind="functional",
        category="form",
        browser="chromium",
        status=status,  # type: ignore[arg-type]
        url="http://127.0.0.1:8000/form",
        error="step 2 (fill label 'Email'): no element matches" if status == "failed" else None,
        healing=healing,
    )


def _document() -> dict[str, Any]:
    """A run where healing passed for one test, failed for one and found nothing for one."""
    passed = Healing(
        outcome="passed",
        changes=[
            LocatorChange(
                step=1,
                action="fill",
                before={"label": "Email", "exact": True},
                after={"test_id": "email", "exact": True},
                source="alternative",
            ),
            LocatorChange(
                step=2,
                action="click",
                before={"role": "button", "name": "Subscribe", "exact": True},
                after={"role": "button", "name": "Sign me up", "exact": True},
                source="ai",
            ),
        ],
        spec={"id": "form-subscribe"},
        calls=2,
        prompt_tokens=1834,
        completion_tokens=95,
    )
    failed = Healing(
        outcome="failed",
        changes=[
            LocatorChange(
                step=0,
                action="click",
                before={"text": "Buy"},
                after={"role": "button", "name": XSS_IMG},
                source="ai",
            )
        ],
        error=f"step 3 (expect_text): text {XSS_SCRIPT} not found",
        spec={"id": "form-buy"},
    )
    nothing = Healing(outcome="none", error="step 2 (fill label 'Email'): no alternative matched")
    document = ReportDocument(
        run=RunSummary(
            id=RUN_ID,
            target="http://127.0.0.1:8000/",
            status="failed",
            started_at="2026-11-28T16:00:00+00:00",
            finished_at="2026-11-28T16:00:12+00:00",
            duration_s=12.3,
            browsers=["chromium"],
            types=["functional"],
            counts=Counts(total=4, passed=1, failed=3, flaky=0, error=0, skipped=0),
            healing=RUN_HEALING,
        ),
        tests=[
            _result("form-subscribe", passed),
            _result("form-buy", failed),
            _result("form-login", nothing),
            _result("page-home", None, status="passed"),
        ],
    )
    return document.model_dump(mode="json")


@pytest.fixture
def report() -> dict[str, Any]:
    return _document()


def _test_body(html: str, test_id: str) -> str:
    """The markup of one test's row, up to the next row (or the end of the list)."""
    rows = [row for row in html.split('<li class="test ') if f'data-test-id="{test_id}"' in row]
    assert len(rows) == 1, test_id
    return rows[0]


def test_html_shows_each_change_and_the_rerun_that_passed(
    report: dict[str, Any], tmp_path: Path
) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    body = _test_body(html, "form-subscribe:chromium")

    assert "<h3>Healing</h3>" in body
    assert (
        "step 2 <code>fill</code>: <code>label &#39;Email&#39;</code> → "
        '<code>test_id &#39;email&#39;</code> <span class="note">(stored alternative)</span>'
    ) in body
    assert (
        "step 3 <code>click</code>: <code>button &#39;Subscribe&#39;</code> → "
        '<code>button &#39;Sign me up&#39;</code> <span class="note">(model)</span>'
    ) in body
    assert "re-run with the proposal passed" in body
    assert "Model: 2 calls, 1834 tokens in, 95 out." in body
    assert f"<code>matf heal list --run {RUN_ID}</code>" in body


def test_html_shows_a_failed_rerun_with_its_error(report: dict[str, Any], tmp_path: Path) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    body = _test_body(html, "form-buy:chromium")

    assert "re-run still failed:" in body
    assert '<pre class="err">step 3 (expect_text): text &lt;script&gt;alert(1)' in body
    assert "step 1 <code>click</code>: <code>text &#39;Buy&#39;</code>" in body
    assert "Model:" not in body  # no model calls, no usage line
    assert f"matf heal list --run {RUN_ID}" in body


def test_html_says_why_no_locator_was_found(report: dict[str, Any], tmp_path: Path) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    body = _test_body(html, "form-login:chromium")

    assert "No new locator:" in body
    assert "no alternative matched" in body
    assert "matf heal list" not in body  # nothing was proposed, so nothing to review
    assert "<h3>Healing</h3>" not in _test_body(html, "page-home:chromium")


def test_html_escapes_locator_names_and_errors(report: dict[str, Any], tmp_path: Path) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")

    assert "<img src=x" not in html
    assert "onerror=alert(1)>" not in html
    assert "button &#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in html
    assert "<script>alert(1)" not in html
    assert html.count("<script") == 1


def test_html_escapes_raw_locators_it_cannot_read(report: dict[str, Any], tmp_path: Path) -> None:
    change = report["tests"][1]["healing"]["changes"][0]
    change["after"] = {"bogus": XSS_IMG}
    change["action"] = XSS_SCRIPT
    html = write_html(report, tmp_path).read_text(encoding="utf-8")

    assert "<img src=x" not in html and "<script>alert(1)" not in html
    assert "bogus=&#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in html
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html


def test_html_run_card_totals_healing(report: dict[str, Any], tmp_path: Path) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    card = re.search(r'<h2 id="healing-heading">Healer</h2>(.*?)</div>', html, re.S)

    assert card is not None
    text = re.sub(r"<[^>]+>", "", card.group(1))
    assert "Looked at 3 tests with a lost element: 2 proposals, 1 passed on re-run." in text
    assert "Model: 2 calls, 1834 tokens in, 95 out." in text
    assert f"Review: matf heal list --run {RUN_ID}" in text


def test_html_without_healing_has_no_healer_card(report: dict[str, Any], tmp_path: Path) -> None:
    report["run"]["healing"] = None
    for test in report["tests"]:
        test["healing"] = None
    html = write_html(report, tmp_path).read_text(encoding="utf-8")

    assert "healing-heading" not in html
    assert "<h3>Healing</h3>" not in html


def test_healer_line_counts_and_points_to_review() -> None:
    line = healer_line(
        {"tests": 2, "proposals": 1, "passed": 1, "calls": 0, "prompt_tokens": 0}, RUN_ID
    )
    assert line == (
        "  healer: 2 tests with a lost element, 1 proposal (1 passed on re-run), "
        f"0 model calls; review: matf heal list --run {RUN_ID}"
    )
    line = healer_line(RUN_HEALING, RUN_ID)
    assert "3 tests" in line and "2 proposals" in line
    assert "2 model calls (1834 tokens in, 95 out)" in line
    nothing = healer_line({"tests": 1, "proposals": 0, "passed": 0, "calls": 1}, RUN_ID)
    assert nothing == (
        "  healer: 1 test with a lost element, 0 proposals (0 passed on re-run), "
        "1 model call (0 tokens in, 0 out)"
    )


def test_healer_line_keeps_control_characters_off_the_terminal() -> None:
    line = healer_line({"tests": 1, "proposals": 1}, "r-1\x1b[2J")
    assert "\x1b" not in line and line.endswith("matf heal list --run r-1?[2J")


def _summary(tmp_path: Path, report: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    campaign = object.__new__(Campaign)  # _summarize reads the output folder and the formats
    campaign.out, campaign.options = tmp_path, RunOptions()
    code = campaign._summarize(RUN_ID, {"status": "failed"})
    assert code == 1
    return capsys.readouterr().out


def test_summary_prints_the_healer_line_after_the_run_line(
    report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _summary(tmp_path, report, capsys).splitlines()

    assert lines[0].startswith(f"run {RUN_ID}: 4 tests")
    assert lines[1] == (
        "  healer: 3 tests with a lost element, 2 proposals (1 passed on re-run), "
        f"2 model calls (1834 tokens in, 95 out); review: matf heal list --run {RUN_ID}"
    )


def test_summary_without_healing_has_no_healer_line(
    report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report["run"]["healing"] = None
    assert "healer:" not in _summary(tmp_path, report, capsys)


def test_html_shows_what_the_model_cost_each_test(report: dict[str, Any], tmp_path: Path) -> None:
    report["tests"][0]["llm"] = {"calls": 1.5, "prompt_tokens": 1200, "completion_tokens": 80}
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    spent = _test_body(html, "form-subscribe:chromium")
    assert "Model <b>1.5 calls · 1200 tokens in · 80 out</b>" in spent
    assert "tokens in ·" not in _test_body(
        html, "page-home:chromium"
    )  # nothing spent, nothing shown
