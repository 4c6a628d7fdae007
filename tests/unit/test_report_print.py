"""Which report files the reporter writes (a run's ``formats``), and what report.pdf shows.

The run is real: results stored in a real SQLite database, the reports
written by the reporter, report.pdf printed by real Chromium and read back with
pypdf. A format not asked is not written; report.json always is (the dashboard
and ``matf run``'s summary read it). The printed report keeps the "Failures by
cause" section and has no buttons: paper cannot be clicked.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import Browser
from pydantic import ValidationError

from matf.agents.reporter import build_document, write_reports
from matf.options import REPORT_FORMATS, RunOptions
from matf.reports.document import ReportDocument
from matf.reports.html import render_html
from matf.results import FailedRequest, StepResult, TestResult
from matf.storage.db import make_engine, migrate, session_scope
from matf.storage.runs import create_run, finish_run, record_results

SITE = "http://shop.test"


def _order(run_id: str, n: int) -> TestResult:
    """An order page whose API call fails with a 500: one cause for all of them."""
    url = f"{SITE}/api/orders/{1000 + n}"
    return TestResult(
        run_id=run_id,
        case_id=f"orders-{n}",
        name=f"Order {n} page",
        kind="functional",
        category="page",
        browser="chromium",
        status="failed",
        url=f"{SITE}/orders/{1000 + n}",
        error=f"1 failed request:\n  GET {url} -> HTTP 500",
        steps=[
            StepResult(index=0, action="goto", description="open", status="passed"),
            StepResult(
                index=1,
                action="expect_no_failed_requests",
                description="no failed requests",
                status="failed",
                error=f"GET {url} -> HTTP 500",
            ),
        ],
        failed_requests=[FailedRequest(url=url, status=500)],
    )


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> ReportDocument:
    """A run of three failing order pages and a passing home page, from a real database."""
    folder = tmp_path_factory.mktemp("formats")
    engine = make_engine(f"sqlite:///{folder / 'matf.db'}")
    migrate(engine, folder / "matf.db")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, f"{SITE}/", RunOptions()).id
        passed = _order(run_id, 9).model_copy(
            update={"case_id": "home", "name": "Home page", "status": "passed", "error": None}
        )
        record_results(session, [*(_order(run_id, n) for n in range(3)), passed])
        finish_run(session, run_id, "failed", datetime.now(UTC))
    with session_scope(engine) as session:
        built = build_document(session, run_id)
    engine.dispose()
    assert built.failure_groups, "the run should have a cause to print"
    return built


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.is_file()}


def test_only_the_asked_formats_are_written_and_json_always(
    document: ReportDocument, tmp_path: Path
) -> None:
    # Given a run that asked for report.html only
    formats = RunOptions(formats=("html",)).formats
    # When the reporter writes its reports
    paths = write_reports(document, tmp_path, tmp_path / "artifacts", None, formats)
    # Then report.html and report.json are written, junit.xml and report.pdf are not
    assert formats == ("html", "json")
    assert set(paths) == {"html", "json"}
    assert _files(tmp_path) == {"report.html", "report.json"}
    assert "pdf_skipped" not in json.loads((tmp_path / "report.json").read_text())


def test_pdf_and_junit_asked_are_written_without_the_html(
    document: ReportDocument, tmp_path: Path
) -> None:
    formats = RunOptions(formats=("pdf", "junit")).formats
    paths = write_reports(document, tmp_path, tmp_path / "artifacts", None, formats)
    assert set(paths) == {"junit", "pdf", "json"}
    assert _files(tmp_path) == {"junit.xml", "report.pdf", "report.json"}
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_a_file_of_a_format_not_asked_is_left_as_it_was(
    document: ReportDocument, tmp_path: Path
) -> None:
    # Given a junit.xml in the output folder that this run does not write (the user's own)
    (tmp_path / "junit.xml").write_text("<testsuites name='theirs'/>")
    # When a run asking for html only writes its reports there
    write_reports(document, tmp_path, tmp_path / "artifacts", None, ("html", "json"))
    # Then that file is neither replaced nor removed
    assert (tmp_path / "junit.xml").read_text() == "<testsuites name='theirs'/>"


def test_the_default_is_every_format() -> None:
    assert RunOptions().formats == REPORT_FORMATS == ("html", "json", "junit", "pdf")
    # Asked twice, or in another order: each once, in the usual order
    assert RunOptions(formats=("pdf", "html", "pdf")).formats == ("html", "json", "pdf")


def test_an_unknown_format_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        RunOptions.model_validate({"formats": ["html", "docx"]})
    (error,) = caught.value.errors()
    assert error["msg"] == "unknown report format 'docx': choose from html, json, junit, pdf"


def test_the_pdf_shows_the_failures_by_cause_and_no_buttons(
    document: ReportDocument, tmp_path: Path
) -> None:
    # When the run's report is printed
    write_reports(document, tmp_path, tmp_path / "artifacts", None, ("json", "pdf"))
    reader = pypdf.PdfReader(io.BytesIO((tmp_path / "report.pdf").read_bytes()))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    # Then its causes are there, before the failed tests, and nothing to click is
    assert "Failures by cause" in text and "/api/orders/" in text
    assert text.index("Failures by cause") < text.index("Order 0 page")
    assert "Show its tests" not in text and "Previous" not in text
    printed = render_html(json.loads((tmp_path / "report.json").read_text()), tmp_path, True)
    assert "Failures by cause" in printed and not re.search(r"<button\b", printed)


def test_report_html_printed_by_its_reader_shows_the_causes_without_buttons(
    document: ReportDocument, tmp_path: Path, browser: Browser
) -> None:
    # Given report.html open in Chromium, its script on (the cause buttons show on screen)
    write_reports(document, tmp_path, tmp_path / "artifacts", None, ("html", "json"))
    page = browser.new_page()
    try:
        page.goto((tmp_path / "report.html").as_uri())
        button = page.get_by_role("button", name="Show its tests").first
        assert button.is_visible()
        # When its reader prints it
        page.emulate_media(media="print")
        # Then the causes stay and the buttons go
        assert page.get_by_role("heading", name="Failures by cause").is_visible()
        assert not button.is_visible()
        assert not page.locator(".filters, .finder").first.is_visible()
    finally:
        page.close()
