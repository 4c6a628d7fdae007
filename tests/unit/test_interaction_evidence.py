"""Checks after a click or submit read what it caused, and name it: real Chromium, real site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.explore import explore
from matf.agents.writer import write_specs
from matf.browser.observed import Reported
from matf.browser.pool import BrowserPool
from matf.browser.steps import _listing, describe
from matf.reports.document import ReportDocument
from matf.reports.html import write_html
from matf.reports.junit import write_junit
from matf.results import FailedRequest, TestResult
from matf.spec import parse_spec
from tests.interaction_site import InteractionSite

LIMITS = ExecutionLimits(test_timeout_ms=30_000, step_timeout_ms=5_000, retries=0)
SINCE = {"since_last_action": True}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with InteractionSite() as served:
        yield served.url


def _run(url: str, steps: list[dict[str, object]], pool: BrowserPool, tmp: Path) -> TestResult:
    spec = parse_spec({"id": "t", "name": "t", "url": url, "steps": steps})
    return run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp))


def _button_test(url: str, name: str, pool: BrowserPool, tmp: Path) -> TestResult:
    """What the writer writes for a button: click, then everything since the click."""
    return _run(
        url,
        [
            {"action": "goto", "url": url},
            {"action": "click", "target": {"role": "button", "name": name}},
            {"action": "expect_no_page_errors", **SINCE},
            {"action": "expect_no_failed_requests", **SINCE},
            {"action": "expect_no_console_errors", **SINCE},
        ],
        pool,
        tmp,
    )


def _form_test(url: str, fields: dict[str, str], submit: str, pool: BrowserPool, tmp: Path):  # type: ignore[no-untyped-def]
    """What the writer writes for a form: fill, submit, then what the submission caused."""
    steps: list[dict[str, object]] = [{"action": "goto", "url": url}]
    steps += [
        {"action": "fill", "target": {"label": label}, "value": value}
        for label, value in fields.items()
    ]
    steps += [
        {"action": "submit", "target": {"role": "button", "name": submit}},
        {"action": "expect_no_server_errors"},
        {"action": "expect_no_failed_requests", **SINCE},
        {"action": "expect_no_page_errors", **SINCE},
        {"action": "expect_no_console_errors", **SINCE},
        {"action": "expect_change"},
        {"action": "expect_content"},
    ]
    return _run(url, steps, pool, tmp)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [("500", "HTTP 500"), ("404", "HTTP 404"), ("network", "net::ERR_EMPTY_RESPONSE")],
)
def test_a_button_whose_request_fails_fails_naming_the_request_and_the_click(
    site: str, pool: BrowserPool, tmp_path: Path, kind: str, outcome: str
) -> None:
    result = _button_test(f"{site}/button/{kind}", "Refresh", pool, tmp_path)
    assert result.status == "failed", result.error
    assert (
        f"1 failed request after click button 'Refresh':\n  POST {site}/api/{kind} -> {outcome}"
        in (result.error or "")
    )
    [failed] = result.failed_requests
    assert (failed.url, failed.after) == (f"{site}/api/{kind}", "click button 'Refresh'")


def test_a_button_whose_request_succeeds_passes(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _button_test(f"{site}/button/ok", "Refresh", pool, tmp_path)
    assert result.status == "passed", result.error
    assert result.failed_requests == []


def test_a_console_error_on_load_is_not_blamed_on_a_button(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _button_test(f"{site}/noisy-load", "Quiet", pool, tmp_path)
    assert result.status == "passed", result.error
    # Still reported, as the load's: the page's own test fails on it once.
    assert result.console_errors == ["widget failed to initialise"]


def test_a_button_that_logs_a_console_error_when_clicked_fails_naming_it(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _button_test(f"{site}/noisy-load", "Noisy", pool, tmp_path)
    assert result.status == "failed"
    assert "1 console error after click button 'Noisy':\n  noisy handler broke" in (
        result.error or ""
    )
    assert "widget failed to initialise" not in (result.error or "")
    assert result.console_errors == [
        "widget failed to initialise",
        "noisy handler broke (after click button 'Noisy')",
    ]


def test_a_script_form_that_logs_an_error_on_every_search_fails_naming_it(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _form_test(f"{site}/search/noisy", {"Query": "shoes"}, "Search", pool, tmp_path)
    assert result.status == "failed"
    assert "1 console error after submit button 'Search':\n  search tracking failed for shoes" in (
        result.error or ""
    )


def test_a_healthy_script_form_passes(site: str, pool: BrowserPool, tmp_path: Path) -> None:
    result = _form_test(f"{site}/search/ok", {"Query": "shoes"}, "Search", pool, tmp_path)
    assert result.status == "passed", result.error
    assert [s.action for s in result.steps][-2:] == ["expect_change", "expect_content"]


def test_a_script_form_whose_submission_changes_nothing_fails_expect_change(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _form_test(f"{site}/search/inert", {"Query": "shoes"}, "Search", pool, tmp_path)
    assert result.status == "failed"
    failed = [s for s in result.steps if s.status == "failed"]
    assert [s.action for s in failed] == ["expect_change"]
    assert "nothing on" in (failed[0].error or "")
    assert "after submit button 'Search'" in (failed[0].error or "")


def test_a_classic_form_that_redirects_back_to_the_same_page_passes(
    site: str, pool: BrowserPool, tmp_path: Path
) -> None:
    # POST, 303 to itself, the same page again: a navigation, so a change.
    result = _form_test(f"{site}/classic", {"Name": "Ada"}, "Save", pool, tmp_path)
    assert result.status == "passed", result.error


@pytest.mark.parametrize(
    ("path", "outcomes"),
    [
        ("/button/500", {"page": "passed", "button 'Refresh'": "failed"}),
        ("/button/ok", {"page": "passed", "button 'Refresh'": "passed"}),
        (
            "/noisy-load",  # the load's console error fails the page's test only
            {"page": "failed", "button 'Quiet'": "passed", "button 'Noisy'": "failed"},
        ),
        ("/search/noisy", {"page": "passed", "form": "failed"}),
        ("/search/inert", {"page": "passed", "form": "failed"}),
        ("/search/ok", {"page": "passed", "form": "passed"}),
        ("/classic", {"page": "passed", "form": "passed"}),
        ("/classic-select", {"page": "passed", "form": "passed"}),  # Enter in the text field
        ("/validate/422", {"page": "passed", "form": "passed"}),  # refusing made-up values
        ("/validate/404", {"page": "passed", "form": "failed"}),  # the form's action is gone
    ],
)
def test_the_written_tests_fail_where_a_use_breaks_and_only_there(
    site: str, pool: BrowserPool, tmp_path: Path, path: str, outcomes: dict[str, str]
) -> None:
    # Given what the writer writes for a page it explored, when each test runs,
    # then the page, its buttons and its form each pass or fail on their own.
    found = explore(f"{site}{path}", pool.browser("chromium"), 1, 5_000)
    specs = write_specs(found, ["functional"])
    results = {}
    for spec in specs:
        if spec.category == "button":
            what = f"button {spec.name.split(chr(39))[1]!r}"
        elif spec.category in ("page", "form"):
            what = spec.category
        else:
            continue
        results[what] = run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path))
    assert {what: r.status for what, r in results.items()} == outcomes, {
        what: r.error for what, r in results.items()
    }


def test_a_step_names_the_action_in_people_s_words() -> None:
    spec = parse_spec(
        {
            "id": "t",
            "name": "t",
            "url": "http://127.0.0.1/",
            "steps": [
                {"action": "click", "target": {"role": "button", "name": "Refresh"}},
                {"action": "submit", "target": {"text": "Go"}},
                {"action": "expect_change"},
            ],
        }
    )
    assert [describe(step) for step in spec.steps] == [
        "click button 'Refresh'",
        "submit text 'Go'",
        "expect change",
    ]


def test_a_listing_names_one_cause_in_its_heading_and_several_on_their_lines() -> None:
    one = _listing("failed request", ["POST /a -> HTTP 500"], ["click button 'A'"])
    assert one == "1 failed request after click button 'A':\n  POST /a -> HTTP 500"
    several = _listing("console error", ["x", "y", "z"], [None, "click button 'A'", None])
    assert several == "3 console errors:\n  x\n  y (after click button 'A')\n  z"
    assert _listing("page error", ["boom"]) == "1 page error:\n  boom"
    assert str(Reported("boom", "press Enter in textbox")) == "boom (after press Enter in textbox)"
    assert str(Reported("boom")) == "boom"


def test_a_stored_request_without_its_action_still_reads() -> None:
    old = FailedRequest.model_validate({"url": "http://x/a", "method": "GET", "status": 404})
    assert old.after is None


def test_reports_show_the_action_a_request_failed_after_and_old_results_still_render(
    tmp_path: Path,
) -> None:
    # Given a run with a request that failed after a click, and one stored before
    # results said so (no "after"), when the reports are written, then the first
    # names its click and the second reads as the page's load.
    requests = [
        {"url": "http://x.test/api/refresh", "method": "POST", "status": 500,
         "after": "click button 'Refresh'"},
        {"url": "http://x.test/old.png", "method": "GET", "status": 404},
    ]  # fmt: skip
    test = {
        "id": "button-x:chromium", "run_id": "r1", "case_id": "button-x", "name": "Button",
        "kind": "functional", "category": "button", "browser": "chromium", "status": "failed",
        "url": "http://x.test/", "error": "1 failed request", "failed_requests": requests,
    }  # fmt: skip
    counts = {"total": 1, "passed": 0, "failed": 1, "flaky": 0, "error": 0, "skipped": 0}
    run = {
        "id": "r1", "target": "http://x.test/", "status": "failed", "started_at": None,
        "finished_at": None, "duration_s": 1.0, "browsers": ["chromium"],
        "types": ["functional"], "counts": counts,
    }  # fmt: skip
    report = ReportDocument.model_validate({"run": run, "tests": [test]}).model_dump(mode="json")
    assert [r["after"] for r in report["tests"][0]["failed_requests"]] == [
        "click button 'Refresh'",
        None,
    ]

    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    junit = write_junit(report, tmp_path).read_text(encoding="utf-8")

    assert "<td>click button &#39;Refresh&#39;</td>" in html
    assert "<td>page load</td>" in html
    assert "POST http://x.test/api/refresh -&gt; 500 (after click button 'Refresh')" in junit
    assert "GET http://x.test/old.png -&gt; 404</system-out>" in junit
