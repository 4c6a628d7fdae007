"""A run whose report.pdf was skipped: the API answers 404 naming the reason.

Its own module: it starts a server with another Chromium path, and the
embedded workers of this process serve one server at a time, so it must not
run while another module's server is alive.
"""

from __future__ import annotations

from pathlib import Path

from tests.apiserver import ApiServer, finished
from tests.conftest import server_settings


def _ok_page(demo: str) -> dict[str, object]:
    return {
        "id": "ok",
        "name": "ok page",
        "url": demo + "/lab/ok",
        "steps": [{"action": "goto", "url": "/lab/ok"}],
    }


def test_a_run_whose_pdf_was_skipped_answers_404_saying_why(tmp_path: Path, demo: str) -> None:
    # Given a server whose Chromium path leads nowhere
    missing = tmp_path / "no-chromium"
    api = ApiServer(server_settings(tmp_path, test_retries=0, matf_chromium_path=missing)).start()
    try:
        with api.client("viewer") as viewer, api.client("editor") as editor:
            suite = {"name": "one", "target": demo, "tests": [_ok_page(demo)]}
            suite_id = editor.post("/api/v1/suites", json=suite).json()["id"]
            accepted = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id})
            assert accepted.status_code == 202, accepted.text
            run_id = finished(editor, accepted.json()["run_id"])["id"]
            # When a viewer asks for its PDF
            answer = viewer.get(f"/api/v1/runs/{run_id}/report/report.pdf")
            html = viewer.get(f"/api/v1/runs/{run_id}/report/report.html")
    finally:
        api.stop()
    # Then the answer is a 404 problem naming the reason; the other reports are there
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    reason = f"MATF_CHROMIUM_PATH={missing} is not an executable file"
    assert answer.json()["detail"] == f"run {run_id} has no report.pdf: {reason}"
    assert html.status_code == 200
