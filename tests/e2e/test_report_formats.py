"""``matf run --formats``: the run writes the reports asked for, and names only those.

Real runs of a two-test suite on the demo site, in real Chromium, through the
command line as a user types it. report.json is always written: the run's
summary (and the dashboard) read it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.conftest import run_matf, write_lab_suite


def _reports(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.is_file()}


def _stored_formats(folder: Path) -> list[tuple[str, ...]]:
    engine = get_engine(f"sqlite:///{folder / 'matf.db'}")
    with session_scope(engine) as session:
        return [run.options.formats for run in session.scalars(select(models.Run))]


def _reports_line(proc: subprocess.CompletedProcess[str]) -> str:
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("reports: ")]
    return line


def test_formats_html_writes_the_html_and_the_json_only(demo: str, tmp_path: Path) -> None:
    # Given a suite with a failing test
    write_lab_suite(tmp_path, demo)
    # When it runs asking for report.html
    proc = run_matf(
        ["run", demo, "--suite", "suite.json", "--out", "out", "--formats", "html"], tmp_path
    )
    # Then report.html and report.json are written, no junit.xml and no report.pdf
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = tmp_path / "out"
    assert _reports(out) == {"report.html", "report.json"}
    # And the end-of-run line names only those
    assert _reports_line(proc) == f"reports: {out / 'report.html'}  (also report.json)"
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["counts"]["failed"] == 1 and "pdf_skipped" not in report
    assert _stored_formats(tmp_path) == [("html", "json")]


def test_formats_pdf_and_junit_write_those_and_the_json(demo: str, tmp_path: Path) -> None:
    write_lab_suite(tmp_path, demo)
    proc = run_matf(
        ["run", demo, "--suite", "suite.json", "--out", "out", "--formats", "pdf,junit"], tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = tmp_path / "out"
    assert _reports(out) == {"report.json", "junit.xml", "report.pdf"}
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert "<testsuites" in (out / "junit.xml").read_text()
    assert _reports_line(proc) == f"reports: {out / 'report.json'}  (also junit.xml, report.pdf)"


def test_an_unknown_format_is_one_line_and_starts_no_run(demo: str, tmp_path: Path) -> None:
    write_lab_suite(tmp_path, demo)
    proc = run_matf(
        ["run", demo, "--suite", "suite.json", "--out", "out", "--formats", "html,docx"], tmp_path
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        "matf: error: unknown format 'docx': choose from html, json, junit, pdf"
    ]
    assert not (tmp_path / "matf.db").exists() and not (tmp_path / "out").exists()


def test_the_help_lists_the_formats_and_the_default(tmp_path: Path) -> None:
    proc = run_matf(["run", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "--formats LIST" in text
    assert "any of html, json, junit, pdf" in text
    assert "json is always written" in text and "[default: all four]" in text
