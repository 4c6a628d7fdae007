"""Why a test was or was not retried reaches every report: junit.xml, report.html, report.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from matf.reports.html import write_html
from matf.reports.junit import write_junit
from matf.results import TestResult

ROOT = Path(__file__).resolve().parents[2]
NOTE = "not retried further: the failure repeated identically on attempt 2 (same axe violations)"


def _result(case_id: str, **extra: Any) -> dict[str, Any]:
    result = TestResult(
        run_id="r-1",
        case_id=case_id,
        name=f"Page {case_id} is accessible",
        kind="accessibility",
        category="page",
        browser="chromium",
        url="http://127.0.0.1:8000/",
        **extra,
    )
    return {"id": f"{case_id}-chromium", **result.model_dump(mode="json")}


def _report(tests: list[dict[str, Any]]) -> dict[str, Any]:
    failed = sum(t["status"] == "failed" for t in tests)
    return {
        "schema_version": 1,
        "run": {
            "id": "r-1",
            "target": "http://127.0.0.1:8000/",
            "status": "failed" if failed else "passed",
            "started_at": "2026-12-07T05:00:00+00:00",
            "finished_at": "2026-12-07T05:00:09+00:00",
            "duration_s": 9.0,
            "browsers": ["chromium"],
            "types": ["accessibility"],
            "error": None,
            "counts": {
                "total": len(tests),
                "passed": len(tests) - failed,
                "failed": failed,
                "flaky": 0,
                "error": 0,
                "skipped": 0,
            },
        },
        "tests": tests,
    }


@pytest.fixture
def report() -> dict[str, Any]:
    failing = _result(
        "home", status="failed", attempts=2, error="1 accessibility violation", retry_note=NOTE
    )
    return _report([failing, _result("about", status="passed")])


def test_junit_says_why_a_failure_was_not_retried(report: dict[str, Any], tmp_path: Path) -> None:
    root = ET.parse(write_junit(report, tmp_path)).getroot()
    outs = {c.get("name"): c.findtext("system-out") or "" for c in root.iter("testcase")}
    assert f"Retries: {NOTE}" in outs["Page home is accessible"]
    assert "Retries:" not in outs["Page about is accessible"]


def test_html_says_why_a_failure_was_not_retried(report: dict[str, Any], tmp_path: Path) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    assert html.count(NOTE) == 1  # the failing test's, once; the passing test has none


def test_report_json_with_and_without_the_note_follows_its_schema(
    report: dict[str, Any],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    older = json.loads(json.dumps(report))
    for test in older["tests"]:
        del test["retry_note"]  # written before the field existed
    jsonschema.validate(older, schema)
    assert (
        TestResult.model_validate(
            {k: v for k, v in older["tests"][0].items() if k != "id"}
        ).retry_note
        is None
    )
