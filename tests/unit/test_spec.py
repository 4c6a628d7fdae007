"""Specs are data validated by a strict schema: good ones pass, bad ones fail with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.campaign import write_schemas
from matf.errors import SpecError
from matf.spec import load_suite, parse_spec

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "id": "checkout-flow",
    "name": "Checkout works",
    "url": "http://127.0.0.1:8000/",
    "steps": [
        {"action": "goto", "url": "/products"},
        {"action": "click", "target": {"role": "link", "name": "Trail Pack"}},
        {"action": "fill", "target": {"label": "Email"}, "value": "a@b.co"},
        {"action": "select", "target": {"test_id": "size"}, "value": "M"},
        {"action": "check", "target": {"css": "#terms"}},
        {"action": "press", "target": {"placeholder": "Search"}, "key": "Enter"},
        {"action": "submit", "target": {"role": "button", "name": "Buy"}},
        {"action": "expect_visible", "target": {"text": "Thanks"}},
        {"action": "expect_text", "target": {"role": "status"}, "text": "Order"},
        {"action": "expect_url", "url": "/thanks", "contains": True},
        {"action": "expect_title", "title": "Thanks"},
        {"action": "expect_status", "url": "/api/health", "status": "2xx"},
        {"action": "expect_no_console_errors"},
        {"action": "expect_no_page_errors", "since_last_action": True},
        {"action": "expect_no_failed_requests"},
        {"action": "expect_no_server_errors"},
        {"action": "expect_content"},
        {"action": "check_accessibility", "min_impact": "serious"},
        {"action": "wait_for", "target": {"alt": "Logo"}},
    ],
}


def test_a_spec_using_every_action_validates() -> None:
    spec = parse_spec(GOOD)
    assert len(spec.steps) == len(GOOD["steps"])
    assert spec.steps[1].target.describe() == "link 'Trail Pack'"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"steps": [{"action": "evaluate", "script": "alert(1)"}]}, "does not match any"),
        ({"steps": [{"action": "goto", "url": "/", "code": "x"}]}, "Extra inputs"),
        ({"url": "javascript:alert(1)"}, "absolute http(s) URL"),
        ({"url": "file:///etc/passwd"}, "absolute http(s) URL"),
        ({"id": "Has Spaces"}, "should match pattern"),
        ({"steps": []}, "at least 1 item"),
        ({"steps": [{"action": "click", "target": {}}]}, "exactly one of"),
        ({"steps": [{"action": "click", "target": {"role": "button", "css": "b"}}]}, "exactly one"),
        ({"steps": [{"action": "click", "target": {"label": "x", "name": "y"}}]}, "only goes with"),
        (
            {"steps": [{"action": "press", "target": {"text": "x"}, "key": "Enter; rm -rf"}]},
            "pattern",
        ),
        ({"steps": [{"action": "goto", "url": "/", "expect_status": "200"}]}, "2xx"),
    ],
)
def test_bad_specs_are_rejected_with_the_problem_named(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({**GOOD, **change})
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value).strip() or "does not match any" in str(caught.value)


def test_suite_files_report_the_first_problem_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "suite.json"
    broken.write_text(json.dumps({"version": 1, "tests": [GOOD, GOOD]}))
    with pytest.raises(SpecError, match="duplicate test id 'checkout-flow'"):
        load_suite(broken)
    broken.write_text("{not json")
    with pytest.raises(SpecError, match="is not JSON"):
        load_suite(broken)
    with pytest.raises(SpecError, match="cannot read suite"):
        load_suite(tmp_path / "missing.json")


def test_committed_json_schemas_match_the_models(tmp_path: Path) -> None:
    for path in write_schemas(tmp_path):
        committed = ROOT / "schemas" / path.name
        assert committed.exists(), f"schemas/{path.name} missing: run 'make schema'"
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), (
            f"schemas/{path.name} is stale: run 'make schema'"
        )


def test_the_json_schema_accepts_what_the_models_accept() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "suite.schema.json").read_text())
    jsonschema.validate({"version": 1, "tests": [GOOD]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"version": 1, "tests": [{**GOOD, "steps": [{"action": "eval"}]}]}, schema
        )
