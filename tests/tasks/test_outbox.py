"""The outbox: what a task announces leaves from a thread, in order, and a clean stop loses none.

Events and results go to the logger queue from each process' outbox
(``tasks/telemetry.py``), off the test's critical path. Real Redis (a
private server), a real Celery worker, real Chromium.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

import redis
from celery.signals import worker_process_shutdown

from matf.agents.logger import make_event
from matf.pipeline.fanout import ExecutorJob
from matf.spec import TestSpec
from tasks.app import make_celery
from tasks.telemetry import flush, publish_later
from tests.conftest import make_settings, subprocess_env
from tests.services import RedisServer, start_worker, stop_process


def _logger_queue(url: str) -> list[tuple[str, Any]]:
    """The messages waiting in the logger queue, oldest first: (task name, first argument)."""
    found = []
    for raw in reversed(redis.Redis.from_url(url).lrange("logger", 0, -1)):  # LPUSHed
        message = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        found.append((message["headers"]["task"], json.loads(body)[0][0]))
    return found


def _events(count: int, run_id: str) -> list[dict[str, Any]]:
    return [
        make_event("phase", agent="context", run_id=run_id, key=f"{run_id}:{i}", phase=str(i))
        for i in range(count)
    ]


def test_events_sent_from_the_outbox_reach_the_broker_all_and_in_order(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    try:
        app = make_celery(make_settings(tmp_path, redis_url=server.url))
        # When a task sends many events without waiting for them
        events = _events(200, "r-order")
        sent = [publish_later(app, "matf.logger.record", [e], "logger") for e in events]
        # Then once the outbox is flushed every one is on the broker, in the order sent
        assert flush(60)
        assert all(s.wait(0) for s in sent)
        queued = _logger_queue(server.url)
    finally:
        server.stop()
    assert [(name, arg["key"]) for name, arg in queued] == [
        ("matf.logger.record", e["key"]) for e in events
    ]


def test_a_pool_process_that_stops_cleanly_first_sends_what_its_outbox_holds(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    try:
        app = make_celery(make_settings(tmp_path, redis_url=server.url))
        # Given a broker that holds every write for now, so events wait in the outbox
        admin = redis.Redis.from_url(server.url)
        admin.client_pause(30_000, all=False)
        events = _events(20, "r-stop")
        for event in events:
            publish_later(app, "matf.logger.record", [event], "logger")
        assert not flush(0), "the events left before the broker held them"
        # When the pool process stops cleanly (Celery's signal) as the broker answers again
        threading.Timer(0.2, admin.client_unpause).start()
        worker_process_shutdown.send(sender="test@host", pid=os.getpid(), exitcode=0)
        # Then every event was sent before the process went on to exit
        queued = [arg["key"] for _name, arg in _logger_queue(server.url)]
    finally:
        server.stop()
    assert queued == [e["key"] for e in events]


def test_an_executor_announces_each_test_before_it_and_sends_its_result_before_its_ack(
    tmp_path: Path, healthy_demo: str
) -> None:
    # Given an executor worker (one process) and no logger consuming its messages
    server = RedisServer(tmp_path)
    worker = start_worker(
        tmp_path, subprocess_env(tmp_path, REDIS_URL=server.url), "x@%h", "executor", 1
    )
    try:
        app = make_celery(make_settings(tmp_path, redis_url=server.url))
        jobs = [
            ExecutorJob(
                run_id="r-outbox",
                spec=TestSpec.model_validate(
                    {
                        "id": f"t{i}",
                        "name": f"t{i}",
                        "url": f"{healthy_demo}/lab/ok",
                        "steps": [{"action": "goto", "url": f"/lab/ok?n={i}"}],
                    }
                ),
                browser="chromium",
            )
            for i in range(3)
        ]
        # When it runs three tests, one after the other
        results = [
            app.send_task(
                "matf.executor.execute",
                args=[job.model_dump(mode="json")],
                queue="executor",
                task_id=job.task_id,
            )
            for job in jobs
        ]
        assert [r.get(timeout=180)["status"] for r in results] == ["passed"] * 3
        stop_process(worker)  # a clean stop
        queued = _logger_queue(server.url)
    finally:
        stop_process(worker)
        server.stop()
    # Then each test's test_started, then its result, reached the logger queue, in order
    seen = [
        (name, arg["kind"], arg["payload"]["case_id"])
        if name == "matf.logger.record"
        else (name, "result", arg["case_id"])
        for name, arg in queued
    ]
    assert seen == [
        entry
        for i in range(3)
        for entry in [
            ("matf.logger.record", "test_started", f"t{i}"),
            ("matf.logger.result", "result", f"t{i}"),
        ]
    ]
    # and the worker measured its own gap between one test and the next (the first has none)
    started = [arg["payload"] for name, arg in queued if name == "matf.logger.record"]
    assert started[0]["idle_ms"] is None
    assert all(p["idle_ms"] >= 0 for p in started[1:])
