"""What operators see: agents, queues, browsers, readiness and Prometheus metrics.

Distributed cases run a real prefork worker over a real Redis; metrics are
computed from a real SQLite database.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from matf.agents import AGENTS
from matf.options import RunOptions
from matf.results import RunStatus
from matf.storage.backup import scheduled_backup
from matf.storage.db import get_engine, session_scope, sessions_for
from matf.storage.models import TestResultRow
from matf.storage.runs import create_run, record_event
from tasks import monitor
from tasks.app import make_celery
from tasks.embedded import EmbeddedWorkers
from tasks.heartbeat import BROWSER_POOLS, HEARTBEATS
from tests.conftest import make_settings, subprocess_env
from tests.services import free_port, start_worker, stop_process
from web.metrics import MatfCollector, install_metrics

SERVED = "context,writer,executor,reporter,logger"  # all but the optimizer
SLOW_STEP = {"action": "goto", "url": "/lab/slow?ms=3000"}


@pytest.fixture
def redis_db(redis_url: str) -> str:
    """A database of the private server of its own, flushed (other tests use db 0)."""
    url = redis_url.rsplit("/", 1)[0] + "/5"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


def _until(check: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def _by_agent(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert [r["agent"] for r in rows] == list(AGENTS)
    return {r["agent"]: r for r in rows}


@pytest.fixture
def worker(tmp_path: Path, redis_db: str) -> Iterator[tuple[Any, str]]:
    env = subprocess_env(tmp_path, REDIS_URL=redis_db)
    name = f"mon{os.getpid()}@%h"
    with open(tmp_path / "worker.log", "w") as log:
        proc = start_worker(tmp_path, env, name, queues=SERVED, concurrency=1, log=log)
        try:
            yield proc, name.split("@")[0] + "@"
        finally:
            stop_process(proc)


def test_a_worker_is_online_by_its_heartbeat_and_unconsumed_queues_are_not(
    worker: tuple[Any, str], redis_db: str, tmp_path: Path, demo: str
) -> None:
    proc, prefix = worker
    settings = make_settings(tmp_path, redis_url=redis_db)
    app = make_celery(settings)
    # When the worker is up, its heartbeat names it for every queue it consumes
    rows = _until(lambda: _online(app, "executor"), timeout_s=60)
    executor = rows["executor"]
    assert executor["workers_online"] == 1 and executor["workers"][0].startswith(prefix)
    beat = datetime.fromisoformat(executor["last_heartbeat"])
    assert abs((datetime.now(UTC) - beat).total_seconds()) < 30
    assert executor["active_tasks"] == executor["reserved_tasks"] == 0
    # Then the queue nobody consumes is reported down
    optimizer = rows["optimizer"]
    assert not optimizer["healthy"] and optimizer["workers_online"] == 0
    assert optimizer["last_heartbeat"] is None and optimizer["workers"] == []
    # When the executor runs a slow test, it is counted active on the executor queue
    spec = {"id": "slow", "name": "slow", "url": f"{demo}/lab/ok", "steps": [SLOW_STEP]}
    job = {"run_id": "r-monitor", "spec": spec, "browser": "chromium"}
    result = app.send_task("matf.executor.execute", args=[job], queue="executor")
    busy = _until(lambda: _busy(app, "executor"))
    assert busy["executor"]["active_tasks"] == 1 and busy["writer"]["active_tasks"] == 0
    # And readiness is ok: the optimizer is optional
    ready = monitor.readiness(app, get_engine(settings.database_url), settings, None)
    assert ready["status"] == "ok", ready
    assert ready["mode"] == "distributed" and ready["checks"]["workers"]["ok"]
    # Though it says no run supervisor runs (no Celery beat here), without failing readiness
    supervisor = ready["checks"]["supervisor"]
    assert not supervisor["ok"] and not supervisor["required"]
    assert "has never run" in supervisor["detail"] and "make beat" in supervisor["detail"]
    # When the test is done, its process reports the browser it launched, at its next beat
    assert result.get(timeout=120)["status"] == "passed"
    report = _until(lambda: _launched(app), timeout_s=60)
    (process,) = report["executors"]
    assert set(process) == set(monitor.EXECUTOR_KEYS)
    assert process["worker"].startswith(prefix) and process["pid"] != proc.pid
    assert process["browsers"] == ["chromium"] and process["tests_run"] == 1
    assert process["contexts_open"] == 0
    assert report["browsers"]["chromium"]["open"] == 1
    # When the worker stops cleanly, it takes its heartbeats with it
    stop_process(proc)
    after = _by_agent(monitor.agents_status(app, None))
    assert not after["executor"]["healthy"] and after["executor"]["workers"] == []
    with redis.Redis.from_url(redis_db) as client:
        assert client.hlen(HEARTBEATS) == 0 and client.hlen(BROWSER_POOLS) == 0


def _busy(app: Any, agent: str) -> dict[str, dict[str, Any]] | None:
    rows = _by_agent(monitor.agents_status(app, None))
    return rows if rows[agent]["active_tasks"] else None


def _launched(app: Any) -> dict[str, Any] | None:
    report: dict[str, Any] = monitor.browser_pools(app, None)
    return report if [e for e in report["executors"] if e["launches"]] else None


def _online(app: Any, agent: str) -> dict[str, dict[str, Any]] | None:
    rows = _by_agent(monitor.agents_status(app, None))
    return rows if rows[agent]["healthy"] else None


def _db(folder: Path) -> str:
    return f"sqlite:///{folder / 'matf.db'}"


def test_queue_lengths_count_messages_nobody_consumes(redis_db: str, tmp_path: Path) -> None:
    app = make_celery(make_settings(tmp_path, redis_url=redis_db))
    for _ in range(3):
        app.send_task("matf.optimizer.learn", args=[], queue="optimizer")
    lengths = monitor.queue_lengths(app)
    assert lengths == {**dict.fromkeys(AGENTS, 0), "optimizer": 3}


def test_an_unreachable_redis_degrades_readiness_and_names_the_broker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = make_celery(settings)
    started = time.monotonic()
    ready = monitor.readiness(app, get_engine(settings.database_url), settings, None)
    lengths = monitor.queue_lengths(app)
    agents = monitor.agents_status(app, None)
    assert time.monotonic() - started < 10  # nothing hangs on a dead broker
    assert ready["status"] == "degraded" and ready["mode"] == "distributed"
    assert not ready["checks"]["broker"]["ok"] and "Redis" in ready["checks"]["broker"]["detail"]
    assert ready["checks"]["database"] == {"ok": True, "detail": "sqlite answers"}
    assert lengths == dict.fromkeys(AGENTS)
    assert not any(row["healthy"] for row in agents)
    assert {row["state"] for row in agents} == {"down"}  # distributed: no worker is trouble


def test_embedded_agents_are_healthy_once_the_in_process_workers_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    workers = EmbeddedWorkers(settings, executors=1)
    engine = get_engine(settings.database_url)
    # Before the first run nothing is started: nobody is healthy, yet the API is ready
    before = monitor.agents_status(workers.app, workers)
    assert not any(r["healthy"] or r["last_heartbeat"] for r in before)
    assert {r["state"] for r in before} == {"on_demand"}  # not down: they start with a run
    assert monitor.readiness(workers.app, engine, settings, None)["status"] == "ok"
    with workers:
        rows = _by_agent(monitor.agents_status(workers.app, workers))
        assert all(r["healthy"] and r["workers_online"] == 1 for r in rows.values())
        assert {r["state"] for r in rows.values()} == {"running"}
        assert rows["executor"]["workers"] == ["executor@embedded"]
        assert rows["logger"]["workers"] == ["control@embedded"]
        ready = monitor.readiness(workers.app, engine, settings, workers)
        assert ready["status"] == "ok" and ready["mode"] == "embedded"
        assert monitor.queue_lengths(workers.app) == dict.fromkeys(AGENTS, 0)
        pools = monitor.browser_pools(workers.app, workers)
        assert pools["pool_size"] == settings.browser_pool_size
        assert [e["worker"] for e in pools["executors"]] == ["executor@embedded"]
        assert pools["browsers"]["chromium"]["available"]


def test_a_pool_counts_its_browsers_and_contexts_for_the_monitor(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from matf.browser.pool import BrowserPool

    workers = EmbeddedWorkers(make_settings(tmp_path), executors=1)
    pool = BrowserPool()
    try:
        context = pool.browser("chromium").new_context()
        mine = pool.stats.snapshot()
        assert mine["browsers"] == ["chromium"] and mine["contexts_open"] == 1
        assert mine["launches"] == mine["tests_run"] == 1
        # The report reads every pool of the process, from another thread
        with workers, ThreadPoolExecutor(1) as other:
            report = other.submit(monitor.browser_pools, workers.app, workers).result()
        (executor,) = report["executors"]  # other tests' pools may live in this process too
        assert "chromium" in executor["browsers"] and executor["contexts_open"] >= 1
        assert report["browsers"]["chromium"]["available"]
        assert report["browsers"]["chromium"]["open"] >= 1
        context.close()
        assert pool.stats.snapshot()["contexts_open"] == 0
    finally:
        pool.close()
    assert pool.stats.snapshot()["browsers"] == []


def _results_db(tmp_path: Path) -> str:
    """A database with one run and five results of known status and duration."""
    url = _db(tmp_path)
    rows = [
        ("a", "chromium", "passed", 400),
        ("b", "chromium", "passed", 1_500),
        ("c", "chromium", "failed", 7_000),
        ("d", "firefox", "error", 400_000),
        ("e", "webkit", "skipped", 0),
    ]
    with session_scope(get_engine(url), write=True) as session:
        usage = {"calls": 6, "prompt_tokens": 600, "completion_tokens": 60}  # the AI writer's
        healing = {"calls": 1, "prompt_tokens": 90, "completion_tokens": 9}  # the healer's
        run = create_run(session, "http://127.0.0.1/", RunOptions())
        run.llm_usage, run.healing_usage = usage, healing
        for case_id, browser, status, ms in rows:
            session.add(
                TestResultRow(
                    run_id=run.id,
                    case_id=case_id,
                    browser=browser,
                    status=status,
                    duration_ms=ms,
                    data={},
                )
            )
    return url


def _status() -> tuple[list[dict[str, Any]], dict[str, int | None]]:
    agents = [{"agent": a, "queue": a, "healthy": a != "optimizer"} for a in AGENTS]
    return agents, {**dict.fromkeys(AGENTS, 0), "executor": 4, "optimizer": None}


def _health(agent: str) -> tuple[tuple[str, str], ...]:
    """The labels of an agent's health series: the guide's ``agent_name`` beside ``agent``."""
    return (("agent", agent), ("agent_name", agent), ("queue", agent))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_collector_counts_tests_and_durations_from_the_database(tmp_path: Path) -> None:
    engine = get_engine(_results_db(tmp_path))
    registry = CollectorRegistry()
    registry.register(MatfCollector(engine, _status))
    samples = _samples(generate_latest(registry).decode())
    assert samples[("tests_executed_total", (("browser", "chromium"), ("status", "passed")))] == 2
    assert samples[("tests_executed_total", (("browser", "webkit"), ("status", "skipped")))] == 1
    assert samples[("llm_calls_total", ())] == 6 + 1
    assert samples[("llm_tokens_total", (("kind", "prompt"),))] == 600 + 90
    assert samples[("llm_tokens_total", (("kind", "completion"),))] == 60 + 9
    histogram = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "test_execution_duration_seconds_bucket"
    }
    assert histogram == {
        "0.5": 1, "1.0": 1, "2.0": 2, "5.0": 2, "10.0": 3, "30.0": 3,
        "60.0": 3, "120.0": 3, "300.0": 3, "+Inf": 4,
    }  # fmt: skip
    assert samples[("test_execution_duration_seconds_count", ())] == 4
    assert samples[("test_execution_duration_seconds_sum", ())] == pytest.approx(408.9)
    assert samples[("runs_active", (("status", "queued"),))] == 1
    assert samples[("agent_health_status", _health("executor"))] == 1
    assert samples[("agent_health_status", _health("optimizer"))] == 0
    assert samples[("test_queue_size", (("queue", "executor"),))] == 4
    assert ("test_queue_size", (("queue", "optimizer"),)) not in samples  # unknown, not 0


def test_a_scrape_is_cached_so_prometheus_cannot_hammer_the_sources(tmp_path: Path) -> None:
    calls = []

    def status() -> tuple[list[dict[str, Any]], dict[str, int | None]]:
        calls.append(1)
        return _status()

    registry = CollectorRegistry()
    registry.register(MatfCollector(get_engine(_results_db(tmp_path)), status, cache_s=60))
    assert calls == []  # registering runs nothing
    first = generate_latest(registry)
    assert generate_latest(registry) == first and len(calls) == 1


def test_the_flask_app_serves_metrics_grouped_by_url_rule(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=_results_db(tmp_path))
    apps = []
    for _ in range(2):  # a second app in the same process must not clash
        app = Flask(__name__)
        app.add_url_rule("/items/<int:item_id>", "item", lambda item_id: {"id": item_id})
        install_metrics(app, settings, _status)
        apps.append(app)
    client = apps[1].test_client()
    assert client.get("/items/1").status_code == client.get("/items/2").status_code == 200
    client.get("/metrics")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = _samples(response.get_data(as_text=True))
    rule = (("method", "GET"), ("status", "200"), ("url_rule", "/items/<int:item_id>"))
    assert samples[("http_request_duration_seconds_count", rule)] == 2
    assert samples[("http_requests_total", rule)] == 2
    assert not any("/metrics" in str(labels) for _name, labels in samples)
    assert samples[("tests_executed_total", (("browser", "firefox"), ("status", "error")))] == 1
    assert samples[("agent_health_status", _health("logger"))] == 1


def _started(session: Any, run_id: str, case_id: str, seconds_ago: float) -> None:
    """A test's ``test_started`` event, as the logger stores the executor's, back-dated."""
    record_event(
        session,
        key=f"test_started:{run_id}:{case_id}:chromium",
        kind="test_started",
        agent="executor",
        run_id=run_id,
        payload={"case_id": case_id, "browser": "chromium"},
        at=datetime.now(UTC) - timedelta(seconds=seconds_ago),
    )


def test_the_collector_exports_running_tests_llm_cost_and_the_newest_verified_backup(
    tmp_path: Path,
) -> None:
    # Given the queued run with results a-e, tests a (finished) and f (not) started,
    # and a finished run whose test g started and never reported
    url = _results_db(tmp_path)
    engine = get_engine(url)
    with session_scope(engine, write=True) as session:
        active = create_run(session, "http://127.0.0.1/", RunOptions())
        ended = create_run(session, "http://127.0.0.1/", RunOptions())
        ended.status = RunStatus.PASSED
        session.flush()
        (queued_id,) = {row.run_id for row in session.query(TestResultRow)}
        _started(session, queued_id, "a", 900)
        _started(session, active.id, "f", 700)
        _started(session, ended.id, "g", 800)
    # And a backup the schedule took and verified
    settings = make_settings(tmp_path, database_url=url, backup_path=tmp_path / "backups")
    detail = scheduled_backup(settings, sessions_for(engine))
    assert detail["verified"] is True
    registry = CollectorRegistry()
    registry.register(MatfCollector(engine, _status, prices=(2.0, 6.0)))
    samples = _samples(generate_latest(registry).decode())
    # Then only f runs, about 700 s old, named by the guide's test_id
    running = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "test_execution_running_seconds"
    }
    assert list(running) == [(("browser", "chromium"), ("run_id", active.id), ("test_id", "f"))]
    assert 700 <= next(iter(running.values())) < 760
    # And the model's tokens are priced per million: 690 prompt at 2 USD, 69 completion at 6
    assert samples[("llm_cost_usd_total", ())] == pytest.approx((690 * 2 + 69 * 6) / 1e6)
    # And the backup's moment and size are the ones it recorded
    taken = samples[("matf_backup_last_verified_timestamp_seconds", ())]
    assert abs(time.time() - taken) < 60
    assert samples[("matf_backup_last_size_bytes", ())] == detail["bytes"] > 0
    assert samples[("agent_health_status", _health("executor"))] == 1


def test_failed_database_connections_are_counted_once_and_the_scrape_still_answers(
    tmp_path: Path,
) -> None:
    # Given an API whose database folder turned into a file after the engine was made
    folder = tmp_path / "db"
    settings = make_settings(tmp_path, database_url=f"sqlite:///{folder / 'matf.db'}")
    engine = get_engine(settings.database_url)
    engine.dispose()  # no pooled connection left: the next one must be opened
    shutil.move(folder, tmp_path / "moved")
    folder.write_text("not a folder")
    app = Flask(__name__)
    install_metrics(app, settings, _status)
    # When Prometheus scrapes
    response = app.test_client().get("/metrics")
    # Then the answer comes, with what the broker told, none of the database's series,
    # and the failed connection counted once (by the engine, not again by the scrape)
    assert response.status_code == 200
    samples = _samples(response.get_data(as_text=True))
    assert samples[("agent_health_status", _health("logger"))] == 1
    assert not any(name.startswith("tests_executed") for name, _labels in samples)
    assert samples[("database_connections_failed_total", ())] == 1
    # And any other failed connection of the engine, outside a scrape, counts too
    with pytest.raises(Exception, match="unable to open database file"), engine.connect():
        pass
    again = _samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert again[("database_connections_failed_total", ())] == 2
    assert again[("process_resident_memory_bytes", ())] > 0


MULTIPROCESS_APP = """
import sys
from flask import Flask
from matf.settings import load_settings
from web.metrics import install_metrics

settings = load_settings(database_url=sys.argv[1], _env_file=None)
app = Flask("m")
app.add_url_rule("/items/<int:item_id>", "item", lambda item_id: {"id": item_id})
logger = {"agent": "logger", "queue": "logger", "healthy": True}
install_metrics(app, settings, lambda: ([logger], {}))
client = app.test_client()
for _ in range(int(sys.argv[2])):
    client.get("/items/7")
print(client.get("/metrics").get_data(as_text=True))
"""


def test_with_a_multiprocess_dir_every_process_serves_the_http_metrics_of_all(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = subprocess_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(shared))

    def scrape(requests: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        cmd = [sys.executable, "-c", MULTIPROCESS_APP, _db(tmp_path), str(requests)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=True)
        return _samples(done.stdout)

    # Given one process that answered two requests, when another one is scraped
    scrape(2)
    samples = scrape(1)
    # Then it serves the count of both, and its own database metrics
    rule = (("method", "GET"), ("status", "200"), ("url_rule", "/items/<int:item_id>"))
    assert samples[("http_request_duration_seconds_count", rule)] == 3
    assert samples[("http_requests_total", rule)] == 3
    assert ("agent_health_status", _health("logger")) in samples
