"""Runs started through the API with ``formats``: the asked reports download, the others 404.

Real runs of a saved suite on the demo site, on a real HTTP server in
embedded mode, their reports printed by real Chromium. A report not asked for
is a 404 problem saying so, not a 500; a run stored before ``formats`` existed
still has every report; a run that prints no PDF starts no printer.

Its own module: it starts its own server (the embedded workers of this
process serve one server at a time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from matf.options import RunOptions
from matf.reports import pdf
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import create_run, finish_run
from tests.apiserver import PASSWORD, ApiServer, finished
from tests.conftest import server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
REPORTS = ("report.html", "report.json", "junit.xml", "report.pdf")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    pdf.close_printers()  # another module's printer would hide whether this one starts its own
    api = ApiServer(server_settings(tmp_path, test_retries=0)).start()
    yield api
    api.stop()


def _suite(editor: httpx.Client, demo: str) -> str:
    test = {
        "id": "ok",
        "name": "ok page",
        "url": demo + "/lab/ok",
        "steps": [{"action": "goto", "url": "/lab/ok"}],
    }
    suite = {"name": "formats", "target": demo, "tests": [test]}
    answer = editor.post("/api/v1/suites", json=suite)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _start(editor: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    accepted = editor.post("/api/v1/tests/execute", json=body)
    assert accepted.status_code == 202, accepted.text
    return dict(accepted.json())


def _downloads(client: httpx.Client, run_id: str) -> dict[str, httpx.Response]:
    return {name: client.get(f"/api/v1/runs/{run_id}/report/{name}") for name in REPORTS}


def test_only_the_asked_reports_download_and_the_others_are_404_problems(
    server: ApiServer, demo: str
) -> None:
    with server.client("editor") as editor, server.client("viewer") as viewer:
        suite_id = _suite(editor, demo)
        # Given a run asking for report.html only: it prints no PDF, so starts no printer
        html_only = _start(editor, {"suite_id": suite_id, "formats": ["html"]})
        finished(editor, str(html_only["run_id"]))
        printers_after_html_only = len(pdf._printers)
        # And a run asking for report.html and report.pdf
        accepted = _start(editor, {"suite_id": suite_id, "formats": ["html", "pdf"]})
        run_id = str(accepted["run_id"])
        run = finished(editor, run_id)
        # When a viewer downloads each report
        got = _downloads(viewer, run_id)
    assert printers_after_html_only == 0
    # Then the asked ones, and report.json, are there and linked
    assert run["status"] == "passed"
    assert {k for k in run["links"] if k in REPORTS} == {"report.html", "report.json", "report.pdf"}
    assert set(accepted["links"]) == set(run["links"])  # type: ignore[arg-type]
    assert got["report.html"].status_code == 200 and "MATF test report" in got["report.html"].text
    assert got["report.json"].json()["run"]["id"] == run_id
    assert got["report.pdf"].status_code == 200
    assert got["report.pdf"].headers["content-type"] == "application/pdf"
    assert got["report.pdf"].content.startswith(b"%PDF-")
    # And junit.xml, not asked for, is a 404 problem saying so
    junit = got["junit.xml"]
    assert junit.status_code == 404
    assert junit.headers["content-type"] == "application/problem+json"
    assert junit.json()["detail"] == (
        f"run {run_id} has no junit.xml: it was not asked for (the run's formats: html, json, pdf)"
    )


def test_a_rerun_writes_the_same_formats(server: ApiServer, demo: str) -> None:
    with server.client("editor") as editor:
        suite_id = _suite(editor, demo)
        first = _start(editor, {"suite_id": suite_id, "formats": ["junit"]})
        finished(editor, str(first["run_id"]))
        again = editor.post(f"/api/v1/runs/{first['run_id']}/rerun")
        assert again.status_code == 202, again.text
        run_id = again.json()["run_id"]
        finished(editor, run_id)
        got = _downloads(editor, run_id)
    assert {name: answer.status_code for name, answer in got.items()} == {
        "report.html": 404,
        "report.json": 200,
        "junit.xml": 200,
        "report.pdf": 404,
    }


def test_an_unknown_format_is_a_422_naming_it_and_starts_no_run(
    server: ApiServer, demo: str
) -> None:
    with server.client("editor") as editor:
        answer = editor.post(
            "/api/v1/tests/execute", json={"url": demo, "formats": ["html", "docx"]}
        )
        runs = editor.get("/api/v1/runs").json()
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == (
        "invalid body: formats: unknown report format 'docx': choose from html, json, junit, pdf"
    )
    assert runs["total"] == 0


def test_a_run_stored_before_formats_still_has_every_report(server: ApiServer) -> None:
    # Given an ended run whose options were stored before they had ``formats``
    stored = json.loads((DATA / "run-options-before-formats.json").read_text(encoding="utf-8"))
    stored["out_dir"] = None  # its reports are gone: the API rebuilds them from the database
    engine = get_engine(server.settings.database_url)
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, "http://shop.test/", RunOptions()).id
        finish_run(session, run_id, "passed", datetime.now(UTC))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET options = :options WHERE id = :id"),
            {"options": json.dumps(stored), "id": run_id},
        )
    # When its reports are downloaded
    with server.client("viewer") as viewer:
        got = _downloads(viewer, run_id)
        links = viewer.get(f"/api/v1/runs/{run_id}").json()["links"]
    # Then every one of them is there, as for runs of that version
    assert {name: answer.status_code for name, answer in got.items()} == dict.fromkeys(REPORTS, 200)
    assert set(REPORTS) <= set(links)


def test_the_api_docs_show_formats(server: ApiServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    schema = document["components"]["schemas"]["ExecuteRequest"]["properties"]["formats"]
    assert schema["items"]["enum"] == ["html", "json", "junit", "pdf"]
    assert schema["default"] == ["html", "json", "junit", "pdf"]
    assert "json is always written" in schema["description"]


def test_the_dashboard_starts_a_run_with_the_checked_reports_and_links_only_those(
    server: ApiServer, demo: str, browser: Browser
) -> None:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        # Given an editor on the overview's start form
        tab.goto(f"{server.url}/")
        tab.get_by_label("Email").fill("editor@example.com")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        form = tab.locator("#start-run")
        expect(form.get_by_label("report.json")).to_be_disabled()  # always written
        # When a functional run of one page starts without junit.xml and report.pdf
        form.get_by_label("URL").fill(demo)
        form.get_by_label("accessibility").uncheck()
        form.get_by_label("Max pages").fill("1")
        form.get_by_label("junit.xml").uncheck()
        form.get_by_label("report.pdf").uncheck()
        form.get_by_role("button", name="Start run").click()
        expect(tab).to_have_url(re.compile(r"/runs/r-[\w-]+$"), timeout=30_000)
        run_id = tab.url.rsplit("/", 1)[1]
        with server.client("viewer") as viewer:
            finished(viewer, run_id)
        # Then its page links report.html and report.json only
        tab.reload()
        links = tab.locator(".actions a.button").all_text_contents()
    finally:
        context.close()
    assert links == ["report.html", "report.json"]
