"""Embedded `matf serve`'s schedule: the jobs run from the server's own thread, once each interval.

A real API server (embedded workers in its process) with retention every
second: an old run disappears, and GET /api/v1/system/schedule says when each
job ran, how it ended, and when it runs next.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, expect

from matf.options import RunOptions
from matf.results import RunStatus
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Run
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import server_settings


def _job(client: httpx.Client, name: str) -> dict[str, Any]:
    answer = client.get("/api/v1/system/schedule")
    assert answer.status_code == 200, answer.text
    return next(job for job in answer.json()["jobs"] if job["name"] == name)


def _ran(client: httpx.Client, name: str, runs: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _job(client, name)
        if job["runs"] >= runs and job["last_outcome"] is not None and not job["running"]:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{name} did not run {runs} time(s): {_job(client, name)}")


def test_embedded_server_runs_retention_on_its_interval(tmp_path: Path, browser: Browser) -> None:
    settings = server_settings(
        tmp_path, retention_interval="1s", backup_interval="1h", optimizer_interval="1h"
    )
    old = datetime.now(UTC) - timedelta(days=31)
    with session_scope(get_engine(settings.database_url), write=True) as s:
        s.add(
            Run(
                id="ancient",
                target="http://a.test/",
                status=RunStatus.PASSED,
                options=RunOptions(),
                created_at=old,
            )
        )
        s.add(
            Run(id="fresh", target="http://a.test/", status=RunStatus.PASSED, options=RunOptions())
        )
    server = ApiServer(settings).start()
    try:
        assert server.runtime is not None
        server.runtime.schedule()
        with server.client("viewer") as client:
            first = _ran(client, "retention", 1)
            assert first["last_outcome"] == "ok"
            assert first["last_detail"]["runs"] == 1
            assert client.get("/api/v1/runs/ancient").status_code == 404
            assert client.get("/api/v1/runs/fresh").status_code == 200
            started = datetime.fromisoformat(first["last_started_at"])
            assert datetime.fromisoformat(first["next_run_at"]) == started + timedelta(seconds=1)
            second = _ran(client, "retention", 2)
            assert second["last_detail"]["runs"] == 0
            assert second["totals"]["runs"] == 1 and second["totals"]["ok"] >= 2

            report = client.get("/api/v1/system/schedule").json()
            assert report["mode"] == "embedded" and "matf serve" in report["sender"]
            backup = next(job for job in report["jobs"] if job["name"] == "backup")
            assert (backup["interval"], backup["interval_s"]) == ("1h", 3600)
            assert backup["runs"] == 0 and backup["next_run_at"] is None
            assert {job["queue"] for job in report["jobs"]} == {"optimizer", "context", "logger"}

            metrics = client.get("/metrics").text
            assert 'matf_scheduled_job_runs_total{job="retention",outcome="ok"}' in metrics
            assert 'matf_retention_deleted_total{kind="runs"} 1.0' in metrics
        server.runtime.close()  # the schedule stops: the page sees one settled state
        _system_page_shows_the_schedule(browser, server)
        with httpx.Client(base_url=server.url) as anonymous:
            refused = anonymous.get("/api/v1/system/schedule")
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
    finally:
        server.stop()


def _system_page_shows_the_schedule(browser: Browser, server: ApiServer) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{server.url}/system")
        tab.get_by_label("Email").fill("viewer@example.com")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        panel = tab.locator("[data-system=schedule]")
        expect(panel).to_contain_text("matf serve", timeout=15_000)
        row = panel.locator("tr", has_text="retention")
        expect(row).to_contain_text("every 1s")
        expect(row.locator(".badge")).to_have_text("ok")
        expect(row).to_contain_text("runs 0")  # what its last run did
        expect(panel.locator("tr", has_text="backup")).to_contain_text("never ran")
    finally:
        context.close()
