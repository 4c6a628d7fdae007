"""Failures grouped by cause: signatures, report.json's groups, report.html's section, the CLI.

The run is real: results stored in a real SQLite database, the reports written
by the reporter, report.html opened in real Chromium from disk. Twenty-five
accessibility failures on 25 product pages of one template are one cause,
"html-has-lang: 25 pages"; failed requests group by method, URL template and
status; page text in a cause stays text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from playwright.sync_api import Browser, Page

from cli.campaign import MAX_TESTS_LISTED, failure_lines
from matf.agents.reporter import build_document, write_reports
from matf.agents.signatures import anonymized, group_failures, signature, signatures
from matf.options import RunOptions
from matf.reports.causes import cause_line
from matf.reports.html import render_html
from matf.results import FailedRequest, PerfMetrics, StepResult, TestResult, Violation
from matf.storage.db import make_engine, migrate, session_scope
from matf.storage.runs import create_run, finish_run, record_results
from tests.conftest import ROOT

SITE = "http://shop.test"
HOSTILE = "<script>window.__pwned=true</script>"
LANG = Violation(rule="html-has-lang", impact="serious", nodes=1, description="<html> has lang")
CONTRAST = Violation(rule="color-contrast", impact="serious", nodes=4, description="contrast")


def _result(case_id: str, status: str = "failed", **extra: Any) -> TestResult:
    return TestResult(
        run_id=extra.pop("run_id", "r-test"),
        case_id=case_id,
        name=extra.pop("name", f"Test {case_id}"),
        kind=extra.pop("kind", "functional"),
        category="page",
        browser=extra.pop("browser", "chromium"),
        status=status,  # type: ignore[arg-type]
        url=extra.pop("url", f"{SITE}/"),
        **extra,
    )


def _failed_step(action: str, error: str, index: int = 1) -> list[StepResult]:
    return [
        StepResult(index=0, action="goto", description="open", status="passed"),
        StepResult(index=index, action=action, description=action, status="failed", error=error),
    ]


def _accessibility(run_id: str, n: int, violations: list[Violation]) -> TestResult:
    listed = ", ".join(f"{v.rule} ({v.impact}, {v.nodes} nodes)" for v in violations)
    return _result(
        f"a11y-product-{n}",
        run_id=run_id,
        kind="accessibility",
        url=f"{SITE}/products/{n}",
        error=f"{len(violations)} accessibility violation(s): {listed}",
        steps=_failed_step("check_accessibility", f"{len(violations)} violation(s): {listed}"),
        violations=violations,
    )


def _order(run_id: str, n: int, status: int) -> TestResult:
    url = f"{SITE}/api/orders/{1000 + n}"
    return _result(
        f"orders-{n}",
        run_id=run_id,
        url=f"{SITE}/orders/{1000 + n}",
        error=f"1 failed request:\n  GET {url} -> HTTP {status}",
        steps=_failed_step("expect_no_failed_requests", f"GET {url} -> HTTP {status}"),
        failed_requests=[FailedRequest(url=url, status=status)],
    )


def _run_results(run_id: str) -> list[TestResult]:
    """25 pages missing lang (10 also low contrast), 6 order pages failing 500 or 404,
    3 page errors, one console error carrying markup, and passed tests."""
    results = [
        _accessibility(run_id, n, [LANG, CONTRAST] if n <= 10 else [LANG]) for n in range(1, 26)
    ]
    results += [_order(run_id, n, 500) for n in range(5)] + [_order(run_id, 9, 404)]
    results += [
        _result(
            f"contact-{n}",
            run_id=run_id,
            url=f"{SITE}/contact?from={n}",
            error="1 uncaught page error",
            steps=_failed_step("expect_no_page_errors", "1 uncaught page error"),
            page_errors=[
                f"ReferenceError: contactStore is not defined\n    at {SITE}/app.js:{n}:7"
            ],
        )
        for n in range(3)
    ]
    results.append(
        _result(
            "hostile",
            run_id=run_id,
            url=f"{SITE}/comments",
            error="1 console error",
            steps=_failed_step("expect_no_console_errors", "1 console error"),
            console_errors=[f"bad comment {HOSTILE}"],
        )
    )
    results += [_result(f"ok-{n}", "passed", run_id=run_id) for n in range(5)]
    return results


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reports of a 40-result run, written by the reporter from a real SQLite run."""
    folder = tmp_path_factory.mktemp("groups")
    engine = make_engine(f"sqlite:///{folder / 'matf.db'}")
    migrate(engine, folder / "matf.db")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, f"{SITE}/", RunOptions()).id
        record_results(session, _run_results(run_id))
        finish_run(session, run_id, "failed", datetime.now(UTC))
    with session_scope(engine) as session:
        document = build_document(session, run_id)
    out = folder / "out"
    write_reports(document, out, folder / "artifacts", None)
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def report(reports: Path) -> dict[str, Any]:
    return dict(json.loads((reports / "report.json").read_text(encoding="utf-8")))


def _group(report: dict[str, Any], title: str) -> dict[str, Any]:
    [group] = [g for g in report["failure_groups"] if g["title"] == title]
    return group


# --- signatures --------------------------------------------------------------------------


def test_messages_differing_only_in_ids_numbers_and_durations_have_one_signature() -> None:
    first = _result(
        "a",
        url=f"{SITE}/orders/1041",
        steps=_failed_step(
            "expect_text",
            f"order 1041 total mismatch after 5012ms at {SITE}/orders/1041 "
            "(request 550e8400-e29b-41d4-a716-446655440000, session 3f2a9b1c7d8e)",
        ),
    )
    second = _result(
        "b",
        url=f"{SITE}/orders/77",
        steps=_failed_step(
            "expect_text",
            f"order 77 total mismatch after 4.9 s at {SITE}/orders/77 "
            "(request 123e4567-e89b-12d3-a456-426614174000, session 9a8b7c6d5e4f3a2b)",
        ),
    )
    assert signature(first) == signature(second)
    sig = signature(first)
    assert sig is not None and sig.kind == "assertion"
    assert sig.title == (
        "expect_text: order {n} total mismatch after <duration> at {page} "
        "(request {uuid}, session {hex})"
    )


def test_different_statuses_and_rules_are_different_causes() -> None:
    assert signature(_order("r", 1, 500)) != signature(_order("r", 2, 404))
    assert signature(_order("r", 1, 500)) == signature(_order("r", 2, 500))
    lang, contrast = signatures(_accessibility("r", 1, [LANG, CONTRAST]))
    assert (lang.title, contrast.title) == ("html-has-lang", "color-contrast")
    assert lang.id != contrast.id
    assert anonymized("got HTTP 500 on /x") != anonymized("got HTTP 404 on /x")


def test_a_request_signature_names_method_url_template_and_status() -> None:
    sig = signature(_order("r", 3, 500))
    assert sig is not None and sig.kind == "request"
    assert sig.title == "GET /api/orders/{id} -> 500"
    cdn = _result(
        "cdn",
        steps=_failed_step("expect_no_failed_requests", "1 failed request"),
        failed_requests=[
            FailedRequest(url="https://cdn.test/lib/2/a.js", failure="net::ERR_FAILED")
        ],
    )
    assert [s.title for s in signatures(cdn)] == [
        "GET https://cdn.test/lib/{id}/a.js -> net::ERR_FAILED"
    ]


def test_performance_failures_group_by_metric_over_budget() -> None:
    def slow(n: int, lcp: float) -> TestResult:
        line = f"LCP {lcp} ms over budget 2500.0 ms"
        return _result(
            f"p{n}",
            url=f"{SITE}/p/{n}",
            steps=_failed_step("check_performance", f"{SITE}/p/{n} is over budget: {line}"),
            performance=[PerfMetrics(url=f"{SITE}/p/{n}", lcp_ms=lcp, over_budget=[line])],
        )

    assert [g.title for g in group_failures([slow(1, 3100.2), slow(2, 4000.0)])] == [
        "performance: LCP over budget"
    ]


def test_only_failed_and_errored_results_have_signatures_and_ids_are_stable() -> None:
    assert signature(_result("p", "passed")) is None
    assert signature(_result("f", "flaky", attempts=2)) is None
    lost = signature(_result("l", "error", error="no result arrived from the executor"))
    assert lost is not None and lost.kind == "error"
    # The id is the link from the optimizer's history: it must not change between runs.
    assert signature(_accessibility("r", 1, [LANG])).id == "c417e943c7b1"  # type: ignore[union-attr]


def test_grouping_counts_tests_and_distinct_pages_most_first() -> None:
    results = [_accessibility("r", n % 3, [LANG]) for n in range(7)]  # 7 tests on 3 pages
    results.append(
        _result(
            "firefox",
            browser="firefox",
            url=f"{SITE}/products/0",
            kind="accessibility",
            steps=_failed_step("check_accessibility", "1 violation"),
            violations=[LANG],
        )
    )
    results.append(_order("r", 1, 500))
    lang, order = group_failures(results)
    assert (lang.title, lang.count, lang.pages) == ("html-has-lang", 8, 3)
    assert lang.browsers == ["chromium", "firefox"]
    assert lang.page_sample[0] in {f"{SITE}/products/0", f"{SITE}/products/1"}
    assert cause_line(lang.model_dump()) == "html-has-lang: 8 tests on 3 pages"
    assert (order.count, order.pages) == (1, 1)


# --- report.json and report.html ---------------------------------------------------------


def test_25_pages_of_one_template_missing_lang_are_one_cause(report: dict[str, Any]) -> None:
    groups = report["failure_groups"]
    first = groups[0]
    assert (first["title"], first["kind"], first["count"], first["pages"]) == (
        "html-has-lang",
        "accessibility",
        25,
        25,
    )
    assert cause_line(first) == "html-has-lang: 25 pages"
    assert len(first["page_sample"]) == 10 and len(first["tests"]) == 20
    assert _group(report, "color-contrast")["count"] == 10
    assert _group(report, "GET /api/orders/{id} -> 500")["count"] == 5
    assert _group(report, "GET /api/orders/{id} -> 404")["count"] == 1
    errors = _group(report, "page error: ReferenceError: contactStore is not defined")
    assert (errors["count"], errors["pages"]) == (3, 3)
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    assert len(groups) == 6
    # Each failed test names its causes, so a reader can go from a group to its tests.
    tests = {t["id"]: t for t in report["tests"]}
    assert len(tests["a11y-product-3:chromium"]["signatures"]) == 2
    assert tests["ok-0:chromium"]["signatures"] == []


def test_report_json_with_groups_validates_against_its_schema(report: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)
    broken = {**report, "failure_groups": [{**report["failure_groups"][0], "kind": "vibes"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_report_html_shows_the_causes_before_the_tests_and_escapes_page_text(
    reports: Path,
) -> None:
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert html.index('id="causes-heading"') < html.index('id="tests-heading"')
    assert "6 causes for 35 failures" in html
    assert "html-has-lang: 25 pages" in html
    assert "GET /api/orders/{id} -&gt; 500: 5 pages" in html
    assert HOSTILE not in html
    assert "console error: bad comment &lt;script&gt;window.__pwned=true&lt;/script&gt;" in html


def test_the_print_variant_lists_the_causes_without_buttons(
    report: dict[str, Any], tmp_path: Path
) -> None:
    printed = render_html(report, tmp_path, for_print=True)
    assert "Failures by cause" in printed and "html-has-lang: 25 pages" in printed
    assert "data-show-cause" not in printed


@pytest.fixture
def tab(browser: Browser, reports: Path) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.goto((reports / "report.html").as_uri())
    yield page
    context.close()


def test_show_its_tests_filters_the_list_to_one_cause(tab: Page, report: dict[str, Any]) -> None:
    contrast = _group(report, "color-contrast")["signature"]
    tab.click(f'button[data-show-cause="{contrast}"]')
    shown = tab.locator("#tests > li.test").evaluate_all("els => els.map(e => e.dataset.testId)")
    assert sorted(shown) == sorted(f"a11y-product-{n}:chromium" for n in range(1, 11))
    tab.click(f'button[data-show-cause="{contrast}"]')  # again: the filter is off
    assert tab.locator("#shown").text_content() == "1–40 of 40"
    assert tab.evaluate("window.__pwned") is None


# --- the CLI's summary -------------------------------------------------------------------


def test_the_cli_prints_one_line_per_cause_and_no_test_lines_for_many(
    report: dict[str, Any],
) -> None:
    lines = failure_lines(report)
    assert lines[:4] == [
        "  6 causes for 35 failures:",
        "    html-has-lang: 25 pages",
        "    color-contrast: 10 pages",
        "    GET /api/orders/{id} -> 500: 5 pages",
    ]
    assert len(lines) == 7  # the summary and the six causes; report.html lists the tests
    assert not any(line.lstrip().startswith("FAILED") for line in lines)


def test_the_cli_prints_the_cause_then_the_test_for_one_failure(tmp_path: Path) -> None:
    one = _order("r", 1, 500)
    report = {
        "failure_groups": [g.model_dump() for g in group_failures([one])],
        "tests": [one.model_dump(mode="json")],
    }
    assert failure_lines(report) == [
        "  1 cause for 1 failure:",
        "    GET /api/orders/{id} -> 500: 1 page",
        "  FAILED Test orders-1 [chromium]  1 failed request: "
        f"GET {SITE}/api/orders/1001 -> HTTP 500",
    ]


def test_the_cli_keeps_control_characters_of_page_text_off_the_terminal() -> None:
    sneaky = _result(
        "x",
        steps=_failed_step("expect_no_page_errors", "1 page error"),
        page_errors=["boom \x1b[2J\x07 gone"],
    )
    groups = [g.model_dump() for g in group_failures([sneaky])]
    lines = failure_lines({"failure_groups": groups, "tests": [sneaky.model_dump(mode="json")]})
    assert lines[1] == "    page error: boom ?[2J? gone: 1 page"
    assert "\x1b" not in "".join(lines) and "\x07" not in "".join(lines)


def test_a_report_from_before_groups_still_lists_its_failed_tests() -> None:
    tests = [_order("r", n, 500).model_dump(mode="json") for n in range(MAX_TESTS_LISTED + 2)]
    lines = failure_lines({"tests": tests})
    assert len(lines) == MAX_TESTS_LISTED + 2
    assert all(line.startswith("  FAILED Test orders-") for line in lines)
