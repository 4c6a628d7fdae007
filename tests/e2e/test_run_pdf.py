"""``matf run`` writes report.pdf next to the other reports, or says why it could not."""

from __future__ import annotations

import json
from pathlib import Path

import pypdf

from tests.conftest import run_matf, write_lab_suite


def test_a_run_writes_report_pdf_with_its_failures(demo: str, tmp_path: Path) -> None:
    # Given a suite with a failing test
    write_lab_suite(tmp_path, demo)
    # When it runs
    proc = run_matf(["run", demo, "--suite", "suite.json", "--out", "out"], tmp_path)
    # Then report.pdf is among the reports listed, and reads as the run's report
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "(also report.json, junit.xml, report.pdf)" in proc.stdout
    reader = pypdf.PdfReader(tmp_path / "out" / "report.pdf")
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert f"Run {report['run']['id']}" in text and demo in text
    assert "broken page" in text and "All good" in text and "ok page" in text
    assert "pdf_skipped" not in report


def test_without_a_browser_the_other_reports_say_why_the_pdf_is_missing(
    demo: str, tmp_path: Path
) -> None:
    # Given a Chromium path that leads nowhere
    write_lab_suite(tmp_path, demo)
    missing = tmp_path / "no-chromium"
    # When a run ends
    proc = run_matf(
        ["run", demo, "--suite", "suite.json", "--out", "out"],
        tmp_path,
        MATF_CHROMIUM_PATH=str(missing),
    )
    # Then its other reports are written, and the reason the PDF is not is recorded and printed
    out = tmp_path / "out"
    assert (out / "report.html").is_file() and (out / "junit.xml").is_file(), proc.stderr
    assert not (out / "report.pdf").exists()
    reason = f"MATF_CHROMIUM_PATH={missing} is not an executable file"
    assert json.loads((out / "report.json").read_text())["pdf_skipped"] == reason
    assert f"report.pdf skipped: {reason}" in proc.stdout
    assert "Traceback" not in proc.stderr
