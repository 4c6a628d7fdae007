"""Redis goes away and comes back: finished tests keep their results, workers say so once.

Restarted with its data or without (then the run supervisor, tasks/supervisor.py,
sends again what was lost, and the report once every result is stored).

Telemetry (events, a result on its way to the logger) is best effort: it
waits a while for the broker, then gives up with one warning line, and
never fails the test that finished. Real Redis, real workers, real Chromium.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from matf.pipeline.fanout import ExecutorJob
from matf.spec import TestSpec
from tasks.app import make_celery
from tasks.base import MatfTask
from tasks.telemetry import flush, publish
from tests.cluster import Cluster, finish, slow_and_quick_suite
from tests.conftest import make_settings, subprocess_env
from tests.services import RedisServer, start_worker, stop_process


@pytest.mark.parametrize("shutdown", ["save", "nosave"])
def test_redis_restarted_mid_run_keeps_every_finished_result(
    cluster: Cluster, healthy_demo: str, shutdown: str
) -> None:
    suite = slow_and_quick_suite(healthy_demo, slow=4, quick=4, slow_ms=2500)
    cli = cluster.start_run(healthy_demo, suite=suite)
    # When Redis shuts down as two tests finished and two begin: saving its data,
    # or not (the queues, the taken messages and the chord's state are gone)
    cluster.wait_until(lambda s: s is not None and s[2] >= 2)
    cluster.redis.shutdown(shutdown)
    time.sleep(3)
    cluster.redis.restart()
    # Then the run ends with a verdict, every test reported and stored exactly once
    code, stdout, stderr = finish(cli)
    assert code == 0, stdout + stderr
    report = json.loads((cluster.folder / "out" / "report.json").read_text())
    assert report["run"]["status"] == "passed"
    ids = sorted(t["id"] for t in suite["tests"])
    assert sorted(t["case_id"] for t in report["tests"]) == ids
    assert all(t["status"] == "passed" for t in report["tests"])
    stored = cluster.results(report["run"]["id"])
    assert sorted(case for case, _browser, _status in stored) == ids
    # And the command said once that the broker went, and once that it came back
    assert stderr.count("matf: lost the broker at redis://127.0.0.1:") == 1, stderr
    assert stderr.count("matf: broker back after") == 1, stderr
    assert "Traceback" not in stderr


def test_publish_gives_up_on_a_broker_that_is_down_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an app whose Redis has gone away
    server = RedisServer(tmp_path)
    server.shutdown("nosave")
    app = make_celery(make_settings(tmp_path, redis_url=server.url))
    # When an event is published with a short patience
    with caplog.at_level(logging.WARNING, logger="matf.telemetry"):
        started = time.monotonic()
        sent = publish(app, "matf.logger.record", [{}], "logger", retry_for_s=1.0, what="event e1")
        waited_s = time.monotonic() - started
    # Then it says so in one line, naming what and why, and returns: no exception
    assert sent is False
    lines = [r.getMessage() for r in caplog.records if r.name == "matf.telemetry"]
    assert len(lines) == 1, lines
    assert "event e1" in lines[0] and "Connection refused" in lines[0]
    assert "\n" not in lines[0]
    assert waited_s < 30  # gave up, rather than waiting for the broker forever


def test_an_executor_whose_broker_refuses_its_messages_still_returns_the_finished_result(
    tmp_path: Path, healthy_demo: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an executor task whose Redis is up but refuses every write (out of memory)
    server = RedisServer(tmp_path)
    try:
        redis.Redis.from_url(server.url).config_set("maxmemory", 1)
        app = make_celery(make_settings(tmp_path, redis_url=server.url))
        app.loader.import_default_modules()
        execute: MatfTask = app.tasks["matf.executor.execute"]
        spec = TestSpec.model_validate(
            {
                "id": "ok",
                "name": "ok",
                "url": f"{healthy_demo}/lab/ok",
                "steps": [{"action": "goto", "url": "/lab/ok"}],
            }
        )
        job = ExecutorJob(run_id="r-refused", spec=spec, browser="chromium")
        # When it runs a test that passes
        with caplog.at_level(logging.WARNING, logger="matf.telemetry"):
            result = execute(job.model_dump(mode="json"))
            assert flush(60)  # both leave from the outbox; a worker waits in after_return
    finally:
        server.stop()
    # Then its event and its result are given up on, one line each, and the test still passed
    assert result["status"] == "passed", result
    lines = [r.getMessage() for r in caplog.records if r.name == "matf.telemetry"]
    assert len(lines) == 2, lines
    assert "test_started" in lines[0] and "maxmemory" in lines[0]
    assert "result r-refused:ok:chromium:result" in lines[1]


def test_a_worker_says_once_that_it_lost_the_broker_and_once_that_it_is_back(
    tmp_path: Path,
) -> None:
    # Given a worker on a private Redis
    server = RedisServer(tmp_path)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = start_worker(
            tmp_path,
            subprocess_env(tmp_path, REDIS_URL=server.url),
            "watch@%h",
            "logger",
            1,
            "INFO",
            log,
        )
        try:
            app = make_celery(make_settings(tmp_path, redis_url=server.url))
            _wait_for(lambda: bool(app.control.inspect(timeout=0.5).ping()), "the worker")
            # When Redis shuts down and comes back a few seconds later
            server.shutdown("nosave")
            _wait_for(lambda: "lost the broker" in log_path.read_text(), "the lost line")
            time.sleep(3)
            server.restart()
            _wait_for(lambda: "broker back" in log_path.read_text(), "the back line")
        finally:
            stop_process(worker, grace_s=10)
            server.stop()
    # Then its log says each once, in one line, with the URL but no password
    text = log_path.read_text()
    assert text.count("matf: lost the broker at") == 1, text
    assert f"matf: lost the broker at {server.url}; retrying" in text
    assert text.count("matf: broker back after") == 1, text
    assert "Traceback" not in text and "CPendingDeprecationWarning" not in text, text


def _wait_for(predicate: Any, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        time.sleep(0.1)
