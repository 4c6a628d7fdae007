"""The optimizer through the API: its analyses, its quarantine proposals, a run asked for now.

The real API on a real HTTP server (embedded mode, so ``POST /optimizer/run``
goes through the server's own Celery workers) and a real SQLite file, with a
history analysed as the scheduled job does it (``tests.optimizer_history``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from matf.storage.db import get_engine, session_scope
from matf.storage.models import ScheduledJob
from tests.apiserver import ApiServer
from tests.optimizer_history import analysed


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()  # type: ignore[no-any-return]


def test_no_analysis_yet_is_a_404_problem(api: ApiServer) -> None:
    with api.client("viewer") as viewer:
        problem = _problem(viewer.get("/api/v1/optimizer/analysis"), 404)
        assert "no optimizer analysis yet" in problem["detail"]
        assert viewer.get("/api/v1/optimizer/analyses").json() == {"items": []}
        _problem(viewer.get("/api/v1/optimizer/analyses/1"), 404)
        page = viewer.get("/api/v1/optimizer/quarantine").json()
        assert (page["items"], page["total"]) == ([], 0)


def test_the_latest_analysis_says_what_it_found_and_when(api: ApiServer) -> None:
    # Given a history analysed by the scheduled job's code
    suite_id, detail = analysed(api.settings)
    with api.client("viewer") as viewer:
        # When a viewer reads the latest analysis
        answer = viewer.get("/api/v1/optimizer/analysis")
        assert answer.status_code == 200, answer.text
        found = answer.json()
        listed = viewer.get("/api/v1/optimizer/analyses", params={"limit": 5}).json()["items"]
        one = viewer.get(f"/api/v1/optimizer/analyses/{detail['analysis_id']}").json()
        _problem(viewer.get("/api/v1/optimizer/analyses/99"), 404)
        _problem(viewer.get("/api/v1/optimizer/analyses", params={"limit": 0}), 422)
    # Then it has its window, counts and findings
    assert found["id"] == detail["analysis_id"] and found["days"] == 30
    assert found["summary"]["runs"] == 14 and found["summary"]["flaky"] == 4
    assert found["findings"]["window"]["runs"] == 14
    assert [f["case_id"] for f in found["findings"]["flakiest"]][-1] == "wobbly"
    assert found["findings"]["slowest"][0]["case_id"] == "slow"
    assert found["findings"]["first_failure"][suite_id]["proposed_ms"] < 1000
    # And the cluster names the cause its tests share
    [cluster] = found["findings"]["clusters"]
    assert {m["case_id"] for m in cluster["members"]} == {"cart", "checkout"}
    assert cluster["signatures"][0]["title"] == "GET /api/cart/{id} -> 500"
    assert cluster["signatures"][0]["shared"] is True
    assert found["orders"][suite_id][-1] == "slow"
    # And the list and the analysis by id say the same
    assert [(a["id"], a["summary"]) for a in listed] == [(found["id"], found["summary"])]
    assert one == found


def test_proposals_are_listed_with_links_and_decided_by_editors_only(api: ApiServer) -> None:
    suite_id, _detail = analysed(api.settings)
    with api.client("viewer") as viewer:
        page = viewer.get("/api/v1/optimizer/quarantine").json()
        assert page["total"] == 3
        assert {p["case_id"] for p in page["items"]} == {"coin", "cart", "checkout"}
        coin = next(p for p in page["items"] if p["case_id"] == "coin")
        assert coin["links"]["case"] == f"/api/v1/suites/{suite_id}/cases/coin"
        assert viewer.get(coin["links"]["case"]).status_code == 200
        assert viewer.get(coin["links"]["self"]).json() == coin
        # A viewer may not decide
        _problem(viewer.post(f"/api/v1/optimizer/quarantine/{coin['id']}/accept"), 403)
        _problem(viewer.get("/api/v1/optimizer/quarantine", params={"status": "maybe"}), 422)
    cart = next(p for p in page["items"] if p["case_id"] == "cart")
    with api.client("editor") as editor:
        accepted = editor.post(f"/api/v1/optimizer/quarantine/{coin['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["decided_by"] == "user:editor@example.com"
        # The saved test is quarantined now, and a decided proposal is a 409
        assert editor.get(coin["links"]["case"]).json()["quarantined"] is True
        _problem(editor.post(f"/api/v1/optimizer/quarantine/{coin['id']}/reject"), 409)
        rejected = editor.post(f"/api/v1/optimizer/quarantine/{cart['id']}/reject").json()
        assert rejected["status"] == "rejected"
        _problem(editor.post("/api/v1/optimizer/quarantine/q-000000000000/accept"), 404)
        left = editor.get("/api/v1/optimizer/quarantine").json()
        decided = editor.get("/api/v1/optimizer/quarantine", params={"status": "all"}).json()
    assert [p["case_id"] for p in left["items"]] == ["checkout"]
    assert decided["total"] == 3


def _schedule(client: httpx.Client) -> dict[str, Any]:
    jobs = client.get("/api/v1/system/schedule").json()["jobs"]
    return next(job for job in jobs if job["name"] == "optimizer")  # type: ignore[no-any-return]


def _until(check: Any, client: httpx.Client, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _schedule(client)
        if check(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"the optimizer job did not get there: {_schedule(client)}")


def test_a_run_asked_for_now_skips_the_interval_but_never_overlaps_one(api: ApiServer) -> None:
    # Given an analysis that ran a minute ago (the job's interval is an hour)
    analysed(api.settings)
    engine = get_engine(api.settings.database_url)
    now = datetime.now(UTC)
    with session_scope(engine, write=True) as session:
        session.add(
            ScheduledJob(
                name="optimizer",
                interval_s=3600,
                runs=1,
                skipped=0,
                last_started_at=now - timedelta(minutes=1),
                held_until=now + timedelta(minutes=10),  # and is still running
            )
        )
    with api.client("viewer") as viewer:
        _problem(viewer.post("/api/v1/optimizer/run"), 403)
    with api.client("editor") as editor:
        # When an editor asks for a run while the job is held, the send does nothing
        sent = editor.post("/api/v1/optimizer/run")
        assert sent.status_code == 202, sent.text
        body = sent.json()
        assert (body["task"], body["queue"], body["force"]) == (
            "matf.optimizer.analyse",
            "optimizer",
            True,
        )
        _until(lambda job: job["skipped"] == 1, editor)
        assert len(editor.get("/api/v1/optimizer/analyses").json()["items"]) == 1
        # When the held run is over, a run asked for now runs, within the interval
        with session_scope(engine, write=True) as session:
            row = session.get(ScheduledJob, "optimizer")
            assert row is not None
            row.held_until = None
        assert editor.post("/api/v1/optimizer/run").status_code == 202
        job = _until(lambda job: job["runs"] == 2 and job["last_outcome"] == "ok", editor)
        items = editor.get("/api/v1/optimizer/analyses").json()["items"]
    assert len(items) == 2 and job["last_detail"]["analysis_id"] == items[0]["id"]


def test_metrics_show_the_latest_analysis(api: ApiServer) -> None:
    # Given an analysis with four flaky tests of five, one cluster, three proposals
    suite_id, _detail = analysed(api.settings)
    with api.client("editor") as editor:
        page = editor.get("/api/v1/optimizer/quarantine").json()
        editor.post(f"/api/v1/optimizer/quarantine/{page['items'][0]['id']}/reject")
        # When Prometheus scrapes
        text = editor.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("matf_optimizer_")
    }
    # Then the gauges say what the analysis found, and what still waits for review
    assert samples["matf_optimizer_flaky_tests"] == 4
    assert samples["matf_optimizer_flaky_rate"] == 0.8
    assert samples["matf_optimizer_stable_failures"] == 0
    assert samples["matf_optimizer_clusters"] == 1
    assert samples["matf_optimizer_quarantine_pending"] == 2
    assert samples["matf_optimizer_first_failure_saved_seconds"] == 10.0
    assert abs(samples["matf_optimizer_last_analysis_timestamp_seconds"] - time.time()) < 60
    coin = (
        f'matf_optimizer_flakiness_score{{browser="chromium",case_id="coin",suite_id="{suite_id}"}}'
    )
    assert samples[coin] == 1.0
    assert len([k for k in samples if k.startswith("matf_optimizer_flakiness_score{")]) == 4
    assert "# HELP matf_optimizer_flakiness_score" in text and "bounded" in text
