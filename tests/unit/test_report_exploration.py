"""A run's exploration summary: stored on the run (migration 0009), shown escaped in its reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import text

from matf.agents.reporter import build_document
from matf.options import RunOptions
from matf.reports.html import write_html
from matf.storage.db import make_engine, session_scope
from matf.storage.runs import create_run, record_exploration
from tests.conftest import ROOT
from tests.migrating import migrate_to

HOSTILE = "<script>alert(1)</script>"
SUMMARY: dict[str, Any] = {
    "pages": 7,
    "states": 0,
    "unread": [{"url": f"http://shop.test/{HOSTILE}", "reason": f"HTTP 500 {HOSTILE}"}],
    "templates": [
        {
            "template": "/orders/{id}",
            "sampled": ["http://shop.test/orders/1", "http://shop.test/orders/2"],
            "skipped": 198,
        }
    ],
    "dropped": [
        {"id": "button-x", "name": f"Button {HOSTILE}", "reason": "invalid spec: steps: too many"}
    ],
    "merged": 3,
    "left_out": 0,
}


def test_runs_made_before_0009_keep_their_data_and_have_no_summary(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, "http://shop.test/", RunOptions()).id
    migrate_to(engine, "0008", down=True)
    with engine.connect() as conn:
        columns = [row[1] for row in conn.execute(text("PRAGMA table_info(runs)"))]
    assert "exploration" not in columns
    migrate_to(engine, "head")
    with session_scope(engine) as session:
        document = build_document(session, run_id)
        assert document.run.target == "http://shop.test/"
        assert document.run.exploration is None


def _document_json(tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, "http://shop.test/", RunOptions()).id
        record_exploration(session, run_id, SUMMARY)
    with session_scope(engine) as session:
        return build_document(session, run_id).model_dump(mode="json")


def test_report_json_carries_the_summary_and_meets_its_schema(tmp_path: Path) -> None:
    data = _document_json(tmp_path)
    assert data["run"]["exploration"] == {**SUMMARY, "access": None}  # one role, or none
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    data["run"]["exploration"]["templates"][0]["skipped"] = "many"
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the schema let a non-number skipped count through")


def test_report_html_shows_the_exploration_escaped(tmp_path: Path) -> None:
    html = write_html(_document_json(tmp_path), tmp_path).read_text(encoding="utf-8")
    assert 'id="exploration-heading"' in html
    assert "<b>7</b> pages read" in html and "<b>3</b> duplicates merged" in html
    read = "read http://shop.test/orders/1, http://shop.test/orders/2; 198 more not read"
    assert f"<code>/orders/{{id}}</code>: {read}" in html
    assert "invalid spec: steps: too many" in html
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_run_without_a_summary_has_no_exploration_section(tmp_path: Path) -> None:
    data = _document_json(tmp_path)
    data["run"]["exploration"] = None
    html = write_html(data, tmp_path).read_text(encoding="utf-8")
    assert 'id="exploration-heading"' not in html
