"""What the API reports about agents, queues, browsers and readiness.

Distributed mode reads the heartbeats workers write to Redis
(``tasks/heartbeat.py``) and asks live workers for their task counts with one
``inspect`` broadcast each, bounded by a timeout. Embedded mode looks at the
in-process workers directly. Every call here answers within a couple of
seconds even when Redis is down: a monitor must not hang on what it watches.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
from kombu.exceptions import ChannelError, KombuError
from sqlalchemy import Engine, text

from matf.agents import AGENTS
from matf.browser import registry
from matf.browser.builds import find_chromium, playwright_build
from matf.browser.launch import BROWSERS
from matf.settings import Settings
from tasks.app import SUPERVISE_EVERY_S, settings_of
from tasks.heartbeat import (
    BROWSER_POOLS,
    HEARTBEATS,
    SUPERVISOR_PASS,
    consumed_queues,
    is_fresh,
    read_entries,
)

if TYPE_CHECKING:
    from celery import Celery

    from tasks.embedded import EmbeddedWorkers

CONNECT_TIMEOUT_S = 1.0
INSPECT_TIMEOUT_S = 1.0
OPTIONAL_QUEUES = ("optimizer",)  # runs finish without it
SUPERVISOR_STALE_S = 6 * SUPERVISE_EVERY_S  # passes missed before it is reported stopped
BROKER_ERRORS = (KombuError, redis.RedisError, OSError)
EXECUTOR_KEYS = ("worker", "pid", "browsers", "launches", "contexts_open", "tests_run", "at")


def is_embedded(app: Celery) -> bool:
    return bool(getattr(app, "matf_embedded", False))


# -- agents ------------------------------------------------------------------------


def agents_status(app: Celery, embedded: EmbeddedWorkers | None) -> list[dict[str, Any]]:
    """One row per agent, in ``AGENTS`` order: its workers, health and task counts."""
    if is_embedded(app):
        return _embedded_agents(embedded)
    beats = _read_hash(app, HEARTBEATS)
    live = {host: beat for host, beat in beats.items() if is_fresh(beat)}
    active, reserved = _task_counts(app, sorted(live))
    rows = []
    for agent in AGENTS:
        consumers = {h: b for h, b in beats.items() if agent in b.get("queues", [])}
        online = sorted(h for h in consumers if h in live)
        seen = [str(b["at"]) for b in consumers.values() if b.get("at")]
        rows.append(_row(agent, online, max(seen, default=None), active[agent], reserved[agent]))
    return rows


def _row(
    agent: str, workers: list[str], last: str | None, active: int, reserved: int
) -> dict[str, Any]:
    return {
        "agent": agent,
        "queue": agent,
        "workers_online": len(workers),
        "healthy": bool(workers),
        "state": "running" if workers else "down",
        "active_tasks": active,
        "reserved_tasks": reserved,
        "last_heartbeat": last,
        "workers": workers,
    }


def _embedded_agents(embedded: EmbeddedWorkers | None) -> list[dict[str, Any]]:
    if embedded is None or not embedded.started:  # nothing is wrong: nothing has run yet
        return [{**_row(agent, [], None, 0, 0), "state": "on_demand"} for agent in AGENTS]
    from celery.worker import state

    active = _count_by_queue(_copy(state.active_requests))
    reserved = _count_by_queue(_copy(state.reserved_requests) - _copy(state.active_requests))
    now = datetime.now(UTC).isoformat()
    hosts: dict[str, list[str]] = {agent: [] for agent in AGENTS}
    for worker, thread in embedded.workers:
        if thread.is_alive():
            for queue in consumed_queues(worker.app):
                hosts.setdefault(queue, []).append(worker.hostname)
    return [
        _row(agent, hosts[agent], now if hosts[agent] else None, active[agent], reserved[agent])
        for agent in AGENTS
    ]


def _copy(requests: Iterable[Any]) -> set[Any]:
    """A copy of a set the worker threads change while we read it."""
    for _ in range(5):
        try:
            return set(requests)
        except RuntimeError:  # changed size during iteration: try again
            continue
    return set()


def _queue_of(delivery_info: dict[str, Any] | None, name: str | None) -> str | None:
    queue = (delivery_info or {}).get("routing_key")
    if queue in AGENTS:
        return str(queue)
    parts = (name or "").split(".")  # matf.<agent>.<task>
    return parts[1] if len(parts) > 2 and parts[1] in AGENTS else None


def _count_by_queue(requests: Iterable[Any]) -> Counter[str]:
    return Counter(q for r in requests if (q := _queue_of(r.delivery_info, r.name)) is not None)


def _task_counts(app: Celery, hosts: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Active and reserved tasks per queue, from the live workers (zero when none answer).

    ``limit`` lets each broadcast return as soon as every live worker replied.
    """
    if not hosts:
        return Counter(), Counter()
    inspect = app.control.inspect(destination=hosts, timeout=INSPECT_TIMEOUT_S, limit=len(hosts))
    counts = []
    for replies in (_safely(inspect.active, safe=True), _safely(inspect.reserved)):
        tasks = (t for worker_tasks in (replies or {}).values() for t in worker_tasks or [])
        counts.append(
            Counter(
                q
                for t in tasks
                if (q := _queue_of(t.get("delivery_info"), t.get("name"))) is not None
            )
        )
    return counts[0], counts[1]


def _safely(call: Any, **kwargs: Any) -> Any:
    """The broadcast's replies, or None when the broker cannot be reached."""
    try:
        return call(**kwargs)
    except BROKER_ERRORS:
        return None


# -- Redis hashes ------------------------------------------------------------------


def _redis(app: Celery) -> redis.Redis:
    url = settings_of(app).redis_url or str(app.conf.broker_url)
    return redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )


def _read_hash(app: Celery, key: str) -> dict[str, dict[str, Any]]:
    """The hash's entries by field; empty when Redis cannot be read."""
    client = _redis(app)
    try:
        return read_entries(client, key)
    except (redis.RedisError, OSError):
        return {}
    finally:
        client.close()


# -- queues ------------------------------------------------------------------------


def queue_lengths(app: Celery) -> dict[str, int | None]:
    """Messages waiting in each agent's queue; None where the broker cannot be read.

    A passive declare reads the count on both kombu's memory transport and
    Redis. Redis keeps no key for an empty queue, so "no such queue" is 0.
    """
    lengths: dict[str, int | None] = dict.fromkeys(AGENTS)
    options = {
        "max_retries": 0,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": CONNECT_TIMEOUT_S,
    }
    conn = app.connection_for_read(connect_timeout=CONNECT_TIMEOUT_S, transport_options=options)
    try:
        channel = conn.default_channel
        for name in AGENTS:
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError as exc:
                if "NOT_FOUND" not in str(exc):
                    raise
                lengths[name] = 0
    except BROKER_ERRORS + tuple(conn.connection_errors):
        pass  # the queues not read yet stay None: unknown, not empty
    finally:
        conn.release()
    return lengths


# -- browsers ----------------------------------------------------------------------


def browser_pools(app: Celery, embedded: EmbeddedWorkers | None) -> dict[str, Any]:
    """Browsers per engine and per executor process, from the pools' own counters."""
    settings = settings_of(app)
    if is_embedded(app):
        processes: list[dict[str, Any]] = []
        if embedded is not None and embedded.started:
            host = next(
                (w.hostname for w, _t in embedded.workers if "executor" in consumed_queues(w.app)),
                "embedded",
            )
            processes.append(
                {
                    "worker": host,
                    "pid": os.getpid(),
                    "pools": registry.snapshots(),
                    "at": datetime.now(UTC).isoformat(),
                }
            )
    else:
        processes = _distributed_processes(app)
    executors = [
        {
            "worker": p["worker"],
            "pid": p["pid"],
            "at": p.get("at"),
            **registry.process_summary(p["pools"]),
        }
        for p in processes
    ]
    return {
        "browsers": _engines(processes, executors, settings),
        "pool_size": settings.browser_pool_size,
        "executors": [{k: e[k] for k in EXECUTOR_KEYS} for e in executors],
    }


def _distributed_processes(app: Celery) -> list[dict[str, Any]]:
    """Live executor processes: prefork children, and threads or solo workers' parents."""
    children = [
        p
        for p in _read_hash(app, BROWSER_POOLS).values()
        if is_fresh(p) and "executor" in p.get("queues", [])
    ]
    parents = [
        {**beat, "worker": host}
        for host, beat in _read_hash(app, HEARTBEATS).items()
        if is_fresh(beat) and beat.get("pool") != "prefork" and "executor" in beat.get("queues", [])
    ]
    processes = [
        {
            "worker": str(p.get("worker")),
            "pid": int(p.get("pid", 0)),
            "pools": list(p.get("pools") or []),
            "at": p.get("at"),
        }
        for p in children + parents
    ]
    return sorted(processes, key=lambda p: (p["worker"], p["pid"]))


def _engines(
    processes: list[dict[str, Any]], executors: list[dict[str, Any]], settings: Settings
) -> dict[str, dict[str, Any]]:
    engines = {}
    for name in BROWSERS:
        open_ = sum(name in pool.get("browsers", []) for p in processes for pool in p["pools"])
        refused = [e["unavailable"][name] for e in executors if name in e["unavailable"]]
        if open_:
            hosts = sum(name in e["browsers"] for e in executors)
            available, detail = True, f"{open_} open in {hosts} executor process(es)"
        elif refused:
            available, detail = False, refused[0]
        else:
            if name == "chromium":
                found = find_chromium(settings.matf_chromium_path)
            else:
                found = playwright_build(name)
            available = found[0] is not None
            detail = f"none open; {found[1]}"
        engines[name] = {"available": available, "open": open_, "detail": detail}
    return engines


# -- readiness ---------------------------------------------------------------------


def readiness(
    app: Celery, engine: Engine, settings: Settings, embedded: EmbeddedWorkers | None
) -> dict[str, Any]:
    """Can this deployment run tests now? Each check says what it found.

    Cheap enough for a probe every few seconds: no browser is launched and
    every network call has a one-second timeout.
    """
    database = _check_database(engine)
    if is_embedded(app):
        mode = "embedded"
        checks = {
            "database": database,
            "broker": _ok("in-process"),
            "workers": _check_embedded_workers(embedded),
            "browser": _check_local_chromium(settings),
        }
    else:
        mode = "distributed"
        broker = _check_broker(app)
        unknown = _ok("unknown while the broker does not answer", False)
        checks = {
            "database": database,
            "broker": broker,
            "workers": _check_workers(app) if broker["ok"] else unknown,
            "browser": _check_executor_chromium(app) if broker["ok"] else unknown,
            "supervisor": _check_supervisor(app)
            if broker["ok"]
            else {**unknown, "required": False},
        }
    required = [c for c in checks.values() if c.get("required", True)]
    status = "ok" if all(c["ok"] for c in required) else "degraded"
    return {"status": status, "mode": mode, "checks": checks}


def _ok(detail: str, ok: bool = True) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _check_database(engine: Engine) -> dict[str, Any]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return _ok(f"{engine.dialect.name}: {first_line(exc)}", False)
    return _ok(f"{engine.dialect.name} answers")


def _check_broker(app: Celery) -> dict[str, Any]:
    client = _redis(app)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return _ok(f"Redis does not answer: {first_line(exc)}", False)
    finally:
        client.close()
    return _ok("Redis answers")


def _check_supervisor(app: Celery) -> dict[str, Any]:
    """When did the run supervisor (Celery beat's first job) last look at the runs?

    Not required to run tests, so it never makes readiness degraded; without
    it a run whose worker or Redis went away waits for its time limit.
    """
    client = _redis(app)
    try:
        raw = client.get(SUPERVISOR_PASS)
    except (redis.RedisError, OSError) as exc:
        return {**_ok(f"Redis does not answer: {first_line(exc)}", False), "required": False}
    finally:
        client.close()
    age = time.time() - float(json.loads(raw)["at"]) if raw else None
    if age is None or age > SUPERVISOR_STALE_S:
        seen = "has never run" if age is None else f"last ran {age:.0f} s ago"
        detail = f"the run supervisor {seen}: start Celery beat ('make beat')"
        return {**_ok(detail, False), "required": False}
    return {**_ok(f"the run supervisor ran {age:.0f} s ago"), "required": False}


def _check_embedded_workers(embedded: EmbeddedWorkers | None) -> dict[str, Any]:
    if embedded is None or not embedded.started:
        return _ok("in-process workers start with the first run")
    dead = [w.hostname for w, thread in embedded.workers if not thread.is_alive()]
    if dead:
        return _ok(f"in-process worker stopped: {', '.join(dead)}", False)
    return _ok("in-process workers running")


def _check_workers(app: Celery) -> dict[str, Any]:
    """Every queue but the optional ones has a worker whose heartbeat is fresh."""
    live = [b for b in _read_hash(app, HEARTBEATS).values() if is_fresh(b)]
    served = {queue for beat in live for queue in beat.get("queues", [])}
    missing = [q for q in AGENTS if q not in served and q not in OPTIONAL_QUEUES]
    if missing:
        return _ok(f"no live worker consumes: {', '.join(missing)}", False)
    return _ok(f"{len(live)} worker(s) online")


def _check_local_chromium(settings: Settings) -> dict[str, Any]:
    """Embedded, browsers start in this process: Chromium must be found on this host."""
    path, detail = find_chromium(settings.matf_chromium_path)
    return _ok(detail, path is not None)


def _check_executor_chromium(app: Celery) -> dict[str, Any]:
    """Distributed, browsers start on the executors' hosts.

    The API's own image need not carry a browser: what counts is whether a
    live executor failed to launch Chromium (its reason is the detail).
    """
    executors = [registry.process_summary(p["pools"]) for p in _distributed_processes(app)]
    refused = [e["unavailable"]["chromium"] for e in executors if "chromium" in e["unavailable"]]
    if refused:
        return _ok(f"an executor cannot launch Chromium: {refused[0]}", False)
    running = sum("chromium" in e["browsers"] for e in executors)
    return _ok(f"Chromium runs on the executors' hosts ({running} process(es) have it open)")


def first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]
