"""report.pdf: the report printed by real Chromium, read back with pypdf.

The PDF is written by the reporter next to the other reports. Its text comes
from the target, so hostile names and errors must print as text and fetch
nothing; without a browser (or past its time limit) the other reports stand
and report.json says why the PDF is missing.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from matf.agents.reporter import write_reports
from matf.reports.document import Counts, ReportDocument, ReportTest, RunSummary
from matf.reports.pdf import PdfOptions, PdfSkipped, write_pdf
from matf.results import Artifacts, StepResult

TARGET = "http://shop.example.test/checkout"


def _png() -> bytes:
    """The failing test's screenshot: a real image, embedded in the PDF."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _test(case_id: str, status: str, name: str, error: str | None = None) -> ReportTest:
    steps = [StepResult(index=0, action="click", description="Pay", status="passed")]
    if error is not None:
        steps.append(
            StepResult(
                index=1, action="expect_text", description="Thanks", status="failed", error=error
            )
        )
    return ReportTest(
        id=f"{case_id}:chromium",
        run_id="run-pdf-1",
        case_id=case_id,
        name=name,
        kind="functional",
        category="custom",
        browser="chromium",
        status=status,  # type: ignore[arg-type]
        url=TARGET,
        error=error,
        steps=steps,
        artifacts=Artifacts(screenshot=f"{case_id}.png" if error else None),
    )


def _document(*tests: ReportTest) -> ReportDocument:
    tally = {"passed": 0, "failed": 0, "flaky": 0, "error": 0, "skipped": 0}
    for test in tests:
        tally[test.status] += 1
    summary = RunSummary(
        id="run-pdf-1",
        target=TARGET,
        status="failed" if tally["failed"] else "passed",
        started_at="2026-01-02T10:00:00+00:00",
        finished_at="2026-01-02T10:01:00+00:00",
        duration_s=60.0,
        browsers=["chromium"],
        types=["functional"],
        counts=Counts(total=len(tests), **tally),
    )
    return ReportDocument(run=summary, tests=list(tests))


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "storage" / "artifacts"
    root.mkdir(parents=True)
    for case_id in ("pay", "hostile"):
        (root / f"{case_id}.png").write_bytes(_png())
    return root


def test_the_reporter_writes_a_pdf_with_the_summary_and_the_failures(
    tmp_path: Path, artifacts: Path
) -> None:
    # Given a run with one failing and two passing tests
    document = _document(
        _test("home", "passed", "Home page loads"),
        _test("pay", "failed", "Checkout pays", "expected 'Thanks for your order', got 'Oops'"),
        _test("cart", "passed", "Cart keeps items"),
    )
    out = tmp_path / "out"
    # When the reporter writes the reports
    paths = write_reports(document, out, artifacts)
    # Then report.pdf is there, next to the others, a PDF that reads as the report
    assert paths["pdf"] == out / "report.pdf"
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = " ".join(_text(pdf).split())
    assert TARGET in text and "Run run-pdf-1" in text
    assert "3 TOTAL" in text and "Pass rate" in text and "66.7 %" in text
    assert "Checkout pays" in text
    assert "expected 'Thanks for your order', got 'Oops'" in text
    assert "Home page loads" in text and "Cart keeps items" in text  # the all-results table
    # The failure comes before the table of all results, and its screenshot is embedded
    assert text.index("Checkout pays") < text.index("All results") < text.index("Home page loads")
    images = [image for page in pypdf.PdfReader(io.BytesIO(pdf)).pages for image in page.images]
    assert images, "the failing test's screenshot is not in the PDF"
    report = json.loads((out / "report.json").read_text())
    assert "pdf_skipped" not in report


class _Listener(ThreadingHTTPServer):
    """A loopback HTTP server that counts what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                listener.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_names_and_errors_print_as_text_and_fetch_nothing(
    tmp_path: Path, artifacts: Path, listener: _Listener
) -> None:
    # Given a test whose name and error (from the target) are markup aimed at a local listener
    port = listener.server_address[1]
    name = f"<img src=http://127.0.0.1:{port}/name>"
    error = (
        f"<script>fetch('http://127.0.0.1:{port}/script')</script>"
        f'<link rel=stylesheet href="http://127.0.0.1:{port}/css">'
        f"<iframe src=http://127.0.0.1:{port}/frame></iframe>"
    )
    document = _document(_test("hostile", "failed", name, error))
    # When the PDF is printed
    write_reports(document, tmp_path / "out", artifacts)
    # Then the markup is printed as text, and nothing reached the listener
    text = "".join(_text((tmp_path / "out" / "report.pdf").read_bytes()).split())
    assert "".join(name.split()) in text
    assert f"<script>fetch('http://127.0.0.1:{port}/script')</script>" in text
    assert listener.paths == []


def test_without_chromium_the_other_reports_are_written_and_the_pdf_skip_is_recorded(
    tmp_path: Path, artifacts: Path
) -> None:
    # Given a report folder with a PDF left by an earlier report of the run
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF-1.4 stale")
    document = _document(_test("pay", "failed", "Checkout pays", "no thanks"))
    missing = tmp_path / "no-such-chromium"
    # When the reports are written with a Chromium that is not there
    paths = write_reports(document, out, artifacts, PdfOptions(chromium_path=missing))
    # Then the other reports are there, and report.json says why the PDF is not
    assert "pdf" not in paths
    assert (out / "report.html").is_file() and (out / "junit.xml").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["tests"][0]["name"] == "Checkout pays"
    assert report["pdf_skipped"] == f"MATF_CHROMIUM_PATH={missing} is not an executable file"
    assert not (out / "report.pdf").exists()  # the stale one does not pass for this report


def test_a_pdf_that_takes_longer_than_its_limit_is_skipped_with_the_reason(
    tmp_path: Path, artifacts: Path
) -> None:
    # Given a limit no browser can start within
    document = _document(_test("pay", "failed", "Checkout pays", "no thanks"))
    data = document.model_dump(mode="json")
    # When the PDF is printed
    with pytest.raises(PdfSkipped) as skipped:
        write_pdf(data, tmp_path, PdfOptions(timeout_s=0.001))
    # Then it is skipped, saying so and naming the setting
    assert "printing took longer than 0.001 s (MATF_REPORT_PDF_TIMEOUT)" in skipped.value.message
    assert not (tmp_path / "report.pdf").exists()
