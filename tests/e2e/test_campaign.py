"""Whole campaigns through the command line, embedded mode, against the real demo site."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from demo.bugs import CAPABILITIES, bugs_for_types
from tests.conftest import ROOT, run_matf

# The seeded bugs a default run (functional and accessibility tests) must find:
# those on page loads and plain clicks, and those that show only when exploration
# interacts (a dialog's form, a request a click sends, a script-handled form, a
# client-side route, a shadow root, a frame).
DEFAULT_BUGS = bugs_for_types(["functional", "accessibility"], CAPABILITIES)
# The buggy run (about 90 tests since the demo's back office, failures tried
# twice or three times) outlasts the suite's 300 s limit on a loaded machine.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def buggy_campaign(demo: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("buggy")
    proc = run_matf(["run", demo, "--out", str(folder / "out")], folder)
    return {
        "proc": proc,
        "out": folder / "out",
        "folder": folder,
        "report": json.loads((folder / "out" / "report.json").read_text()),
    }


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


EVIDENCE = {
    "error-on-load": lambda t: t["page_errors"],
    "failing-request": lambda t: any(
        r["url"].endswith("/api/stats") and r["status"] == 500 for r in t["failed_requests"]
    ),
    "console-error": lambda t: t["console_errors"],
    "form-500": lambda t: "server error" in t["error"],
    "button-throws": lambda t: "ReferenceError" in t["error"],
    "broken-link": lambda t: "HTTP 404" in t["error"],
    "broken-image": lambda t: "HTTP 404" in t["error"],
    "dialog-form-throws": lambda t: "reading 'value'" in t["error"],
    "click-failed-request": lambda t: any(
        r["url"].endswith("/api/app/orders/summary") and r["status"] == 500 and r["after"]
        for r in t["failed_requests"]
    ),
    "script-form-console-error": lambda t: any(
        "Search index is stale" in error for error in t["console_errors"]
    ),
    "route-only-view": lambda t: (
        "reading 'map'" in t["error"]
        or any(r["url"].endswith("/api/app/reports/monthly") for r in t["failed_requests"])
    ),
    "shadow-broken-link": lambda t: "HTTP 404" in t["error"],
    "frame-broken-image": lambda t: "HTTP 404" in t["error"],
}


def test_every_seeded_bug_is_found(buggy_campaign: dict[str, Any]) -> None:
    # Given the demo with its seeded bugs, when MATF explores and runs it,
    # then each bug shows as a failed test of its category, where it lives.
    tests = buggy_campaign["report"]["tests"]
    for bug in DEFAULT_BUGS:
        failing = [
            t
            for t in tests
            if t["category"] == bug.category
            and _path(t["url"]) == bug.path
            and t["status"] == "failed"
        ]
        assert failing, f"seeded bug {bug.id} was not found"
        assert all(t["triage"]["kind"] == "app-bug" for t in failing), bug.id  # not drift
        check = EVIDENCE.get(bug.id)
        if check is not None:
            assert any(check(t) for t in failing), f"{bug.id}: failing, but not for its reason"
    a11y = {
        _path(t["url"]): {v["rule"] for v in t["violations"]}
        for t in tests
        if t["category"] == "accessibility"
    }
    assert {"image-alt", "color-contrast"} <= a11y["/about"]
    assert {"label", "button-name"} <= a11y["/newsletter"]


def test_a_run_with_failures_exits_1_and_says_where_the_reports_are(
    buggy_campaign: dict[str, Any],
) -> None:
    proc = buggy_campaign["proc"]
    assert proc.returncode == 1, proc.stderr
    assert "report.html" in proc.stdout and "Traceback" not in proc.stderr
    run = buggy_campaign["report"]["run"]
    assert run["status"] == "failed" and run["counts"]["failed"] >= len(DEFAULT_BUGS) - 1
    assert run["counts"]["total"] == len(buggy_campaign["report"]["tests"]) > 30


def test_report_json_follows_its_schema(buggy_campaign: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(buggy_campaign["report"], schema)  # raises on any mismatch
    assert buggy_campaign["report"]["schema_version"] == 1


def test_junit_xml_parses_and_its_counts_match_report_json(buggy_campaign: dict[str, Any]) -> None:
    root = ET.parse(buggy_campaign["out"] / "junit.xml").getroot()
    counts = buggy_campaign["report"]["run"]["counts"]
    assert int(root.get("tests", -1)) == counts["total"]
    assert int(root.get("failures", -1)) == counts["failed"]
    assert int(root.get("errors", -1)) == counts["error"]
    assert int(root.get("skipped", -1)) == counts["skipped"]
    cases = root.findall(".//testcase")
    assert len(cases) == counts["total"]
    assert len([c for c in cases if c.find("failure") is not None]) == counts["failed"]


def test_failures_carry_their_evidence(buggy_campaign: dict[str, Any]) -> None:
    out = buggy_campaign["out"]
    failed = [t for t in buggy_campaign["report"]["tests"] if t["status"] == "failed"]
    assert failed and all(t["retry_note"] for t in failed)  # each says why it stopped
    # A seeded bug fails the same way every time: its first retry ends the retries.
    assert all(t["attempts"] == 2 for t in failed if "identically" in t["retry_note"])
    assert any("identically" in t["retry_note"] for t in failed)
    for test in failed:
        shot = test["artifacts"]["screenshot"]
        assert shot and (out / shot).is_file(), test["name"]
        assert any(step["status"] == "failed" for step in test["steps"])
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    for test in failed:
        assert test["case_id"] in html or test["name"].replace("'", "&#39;") in html


def test_the_healthy_demo_passes_every_test(healthy_demo: str, tmp_path: Path) -> None:
    proc = run_matf(
        ["run", healthy_demo, "--out", str(tmp_path / "out"), "--workers", "2"], tmp_path
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    bad = [(t["name"], t["error"]) for t in report["tests"] if t["status"] != "passed"]
    assert not bad
    assert proc.returncode == 0, proc.stderr
    kinds = {t["category"] for t in report["tests"]}
    assert {"page", "link", "image", "form", "button", "accessibility"} <= kinds


def test_a_script_in_a_page_title_shows_as_text_in_the_report(demo: str, tmp_path: Path) -> None:
    # Given a page whose <title> holds a <script> tag, when a test reports it,
    # then report.html shows the title as escaped text and runs no script.
    suite = {
        "version": 1,
        "tests": [
            {
                "id": "xss-title",
                "name": "Title check",
                "url": f"{demo}/lab/xss",
                "steps": [
                    {"action": "goto", "url": "/lab/xss"},
                    {"action": "expect_title", "title": "Something else"},
                ],
            }
        ],
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    proc = run_matf(["run", demo, "--suite", "suite.json", "--out", "out"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "<script>alert(1)</script>" in report["tests"][0]["error"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
