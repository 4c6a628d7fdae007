"""Runs through the API, end to end: start, follow live, results, reports, suites, re-run.

A real HTTP server around the app, embedded workers in this process, real
Chromium on the real demo site. Suites are imported as specs, so each run is
small and its verdicts known in advance.
"""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from simple_websocket import Client

from tests.apiserver import ApiServer, finished
from tests.conftest import lab_spec, server_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("api-runs")
    api = ApiServer(server_settings(folder, test_retries=0)).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def editor(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client("editor") as client:
        yield client


@pytest.fixture(scope="module")
def suite_id(editor: httpx.Client, demo: str) -> str:
    tests = [lab_spec("ok", demo, "/lab/ok"), lab_spec("broken", demo, "/lab/fail", "All good")]
    answer = editor.post("/api/v1/suites", json={"name": "lab", "target": demo, "tests": tests})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["cases"] == 2 and body["created_by"] == "user:editor@example.com"
    return str(body["id"])


@pytest.fixture(scope="module")
def first_run(editor: httpx.Client, suite_id: str) -> dict[str, Any]:
    answer = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert answer.headers["Location"] == f"/api/v1/runs/{accepted['run_id']}"
    assert accepted["status_url"].endswith("/status")
    return {"accepted": accepted, "run": finished(editor, accepted["run_id"])}


def test_a_suite_run_ends_with_its_verdicts_counted(first_run: dict[str, Any]) -> None:
    run = first_run["run"]
    assert run["status"] == "failed"  # "broken" fails
    assert run["counts"]["total"] == 2
    assert (run["counts"]["passed"], run["counts"]["failed"]) == (1, 1)
    assert run["created_by"] == "user:editor@example.com"
    assert run["exploration"] is None  # a suite runs as given: nothing was explored


def test_results_filter_by_status_and_carry_evidence(
    editor: httpx.Client, first_run: dict[str, Any]
) -> None:
    run_id = first_run["run"]["id"]
    failed = editor.get(f"/api/v1/runs/{run_id}/results", params={"status": "failed"}).json()
    assert [r["case_id"] for r in failed["items"]] == ["broken"]
    assert "All good" in failed["items"][0]["error"]
    artifacts = editor.get(f"/api/v1/runs/{run_id}/artifacts").json()["items"]
    shot = next(a for a in artifacts if a["kind"] == "screenshot")
    image = editor.get(shot["url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_reports_download_in_three_formats(editor: httpx.Client, first_run: dict[str, Any]) -> None:
    links = first_run["accepted"]["links"]
    document = editor.get(links["report.json"])
    assert document.status_code == 200
    assert json.loads(document.content)["run"]["counts"]["failed"] == 1
    junit = ET.fromstring(editor.get(links["junit.xml"]).content)
    assert sum(int(s.get("failures", 0)) for s in junit.iter("testsuite")) == 1
    html = editor.get(links["report.html"])
    assert html.headers["content-type"].startswith("text/html")
    # The report runs sandboxed: its page text comes from the target.
    assert "sandbox allow-scripts" in html.headers["Content-Security-Policy"]


def test_a_viewer_downloads_the_pdf_report(server: ApiServer, first_run: dict[str, Any]) -> None:
    # Given a finished run and a viewer
    link = first_run["accepted"]["links"]["report.pdf"]
    with server.client("viewer") as viewer:
        # When the viewer asks for report.pdf
        answer = viewer.get(link)
    # Then it is a PDF download that reads as the run's report
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    run_id = first_run["run"]["id"]
    assert answer.headers["content-disposition"] == f"attachment; filename={run_id}-report.pdf"
    assert answer.content.startswith(b"%PDF-")
    pages = pypdf.PdfReader(io.BytesIO(answer.content)).pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())
    assert f"Run {run_id}" in text and "broken page" in text and "ok page" in text
    assert "All good" in text  # the failure's error


def test_a_quarantined_failure_no_longer_fails_the_run_and_disabled_tests_do_not_run(
    editor: httpx.Client, suite_id: str, demo: str
) -> None:
    # Given the failing test quarantined
    patched = editor.patch(f"/api/v1/suites/{suite_id}/cases/broken", json={"quarantined": True})
    assert patched.status_code == 200 and patched.json()["quarantined"] is True
    # When the suite runs again
    run_id = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id}).json()["run_id"]
    run = finished(editor, run_id)
    # Then it still runs and fails, but the run passes, and the report says why
    assert run["status"] == "passed" and run["counts"]["failed"] == 1
    report = editor.get(f"/api/v1/runs/{run_id}/report/report.json").json()
    flags = {t["case_id"]: t["quarantined"] for t in report["tests"]}
    assert flags == {"ok": False, "broken": True}
    # And a disabled test is not run at all
    editor.patch(f"/api/v1/suites/{suite_id}/cases/broken", json={"enabled": False})
    run_id = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id}).json()["run_id"]
    run = finished(editor, run_id)
    assert run["counts"]["total"] == 1 and run["status"] == "passed"
    results = editor.get(f"/api/v1/runs/{run_id}/results").json()["items"]
    assert [r["case_id"] for r in results] == ["ok"]
    editor.patch(
        f"/api/v1/suites/{suite_id}/cases/broken", json={"enabled": True, "quarantined": False}
    )


def test_editing_a_spec_is_validated_against_the_schema(
    editor: httpx.Client, suite_id: str, demo: str
) -> None:
    bad = editor.patch(
        f"/api/v1/suites/{suite_id}/cases/ok",
        json={"spec": {**lab_spec("ok", demo, "/lab/ok"), "steps": [{"action": "eval_js"}]}},
    )
    assert bad.status_code == 422 and "steps" in bad.json()["detail"]
    renamed = editor.patch(
        f"/api/v1/suites/{suite_id}/cases/ok", json={"spec": lab_spec("other", demo, "/lab/ok")}
    )
    assert renamed.status_code == 422 and "must stay 'ok'" in renamed.json()["detail"]
    good = lab_spec("ok", demo, "/lab/ok", name="renamed ok")
    answer = editor.patch(f"/api/v1/suites/{suite_id}/cases/ok", json={"spec": good})
    assert answer.status_code == 200 and answer.json()["name"] == "renamed ok"
    assert answer.json()["updated_by"] == "user:editor@example.com"


def test_a_rerun_runs_the_same_tests_on_the_same_target(
    editor: httpx.Client, first_run: dict[str, Any]
) -> None:
    original = first_run["run"]
    answer = editor.post(f"/api/v1/runs/{original['id']}/rerun")
    assert answer.status_code == 202
    again = finished(editor, answer.json()["run_id"])
    assert again["id"] != original["id"] and again["target"] == original["target"]
    assert again["counts"]["total"] == original["counts"]["total"]


def test_live_events_stream_over_the_websocket(
    server: ApiServer, editor: httpx.Client, suite_id: str
) -> None:
    run_id = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id}).json()["run_id"]
    ws_url = server.url.replace("http://", "ws://") + f"/ws?run_id={run_id}"
    ws = Client.connect(ws_url, headers={"Authorization": f"Bearer {server.tokens['viewer']}"})
    kinds: list[str] = []
    ids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "run_finished" not in kinds:
            message = ws.receive(timeout=5)
            if message is None:
                continue
            event = json.loads(message)
            if event["kind"] == "ping":
                continue
            assert event["run_id"] == run_id
            kinds.append(event["kind"])
            ids.append(event["id"])
    finally:
        ws.close()
    assert kinds.count("test_finished") == 2 and kinds[-1] == "run_finished"
    assert ids == sorted(set(ids))  # in order, none twice
    # A client that reconnects after an id gets only what came after it
    ws = Client.connect(
        ws_url + f"&after={ids[-2]}",
        headers={"Authorization": f"Bearer {server.tokens['viewer']}"},
    )
    try:
        replay = json.loads(ws.receive(timeout=5))
    finally:
        ws.close()
    assert replay["id"] == ids[-1] and replay["kind"] == "run_finished"


def test_the_websocket_needs_credentials(server: ApiServer) -> None:
    answer = httpx.get(
        server.url + "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
    )
    assert answer.status_code == 401


def test_cancelling_a_run_ends_it_and_drops_its_tests_not_yet_started(
    editor: httpx.Client, demo: str
) -> None:
    # Given a run of four slow tests on two embedded executors
    slow = [lab_spec(f"slow{i}", demo, f"/lab/slow?ms=8000&n={i}") for i in range(4)]
    suite = _suite(editor, demo, slow)
    run_id = editor.post("/api/v1/tests/execute", json={"suite_id": suite}).json()["run_id"]
    # When it is cancelled once its first tests are running
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _events(editor, run_id, "test_started"):
        time.sleep(0.2)
    answer = editor.post(f"/api/v1/runs/{run_id}/cancel")
    assert answer.status_code == 200
    assert answer.json()["status"] == "error"
    assert answer.json()["error"] == "cancelled by user:editor@example.com"
    assert editor.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409
    # Then the tests not yet started never start: the first ones end, and no
    # other takes their executors
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(_events(editor, run_id, "test_finished")) < len(
        _events(editor, run_id, "test_started")
    ):
        time.sleep(0.3)
    time.sleep(3)
    started = _events(editor, run_id, "test_started")
    assert 1 <= len(started) <= 2
    assert len(_events(editor, run_id, "test_finished")) == len(started)
    assert editor.get(f"/api/v1/runs/{run_id}").json()["status"] == "error"


def _events(client: httpx.Client, run_id: str, kind: str) -> list[dict[str, Any]]:
    events = client.get(f"/api/v1/runs/{run_id}/events").json()["items"]
    return [e for e in events if e["kind"] == kind]


def _suite(client: httpx.Client, demo: str, tests: list[dict[str, Any]]) -> str:
    answer = client.post("/api/v1/suites", json={"name": "one", "target": demo, "tests": tests})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_runs_list_filters_and_pages(editor: httpx.Client, first_run: dict[str, Any]) -> None:
    page = editor.get("/api/v1/runs", params={"status": "failed", "limit": 1}).json()
    assert page["limit"] == 1 and len(page["items"]) == 1 and page["total"] >= 1
    assert all(item["status"] == "failed" for item in page["items"])
    none = editor.get("/api/v1/runs", params={"target": "no-such-host.example"}).json()
    assert none["items"] == [] and none["total"] == 0
    bad = editor.get("/api/v1/runs", params={"limit": 0})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_a_run_writes_its_tests_and_can_be_saved_as_a_suite(
    editor: httpx.Client, healthy_demo: str, tmp_path: Path
) -> None:
    answer = editor.post(
        "/api/v1/tests/execute",
        json={"url": healthy_demo, "type": "functional", "max_pages": 1},
    )
    run = finished(editor, answer.json()["run_id"])
    assert run["status"] == "passed" and run["counts"]["total"] >= 2
    saved = editor.post("/api/v1/suites", json={"name": "home", "run_id": run["id"]})
    assert saved.status_code == 201 and saved.json()["cases"] == run["counts"]["total"]
    cases = editor.get(f"/api/v1/suites/{saved.json()['id']}/cases").json()["items"]
    assert all(case["enabled"] and not case["quarantined"] for case in cases)
