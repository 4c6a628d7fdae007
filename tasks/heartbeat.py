"""Worker heartbeats in Redis: who consumes which queue, and what its browsers are doing.

Distributed mode only. A worker's parent process writes ``matf:heartbeats``
field ``<hostname>`` every ``INTERVAL_S``; each prefork child of a worker that
consumes the executor queue writes ``matf:browser-pools`` field
``<hostname>:<pid>`` with its pools' counters (a threads or solo worker's
pools live in the parent and travel in its heartbeat). Values are JSON with
an ISO-8601 UTC ``at``; readers (``tasks/monitor.py``) treat an entry older
than ``STALE_AFTER_S`` as gone. A clean shutdown deletes its field.

Heartbeats run on daemon threads, never on a task's path: a Redis error is
logged at debug and the next tick tries again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery, current_app

from matf.browser import registry
from tasks.app import settings_of

HEARTBEATS = "matf:heartbeats"
BROWSER_POOLS = "matf:browser-pools"
SUPERVISOR_PASS = "matf:supervisor:last-pass"  # the run supervisor's last pass, JSON
INTERVAL_S = 10.0
STALE_AFTER_S = 30.0
FORGET_AFTER_S = 24 * 3600.0  # a field this old is deleted by the next reader
REDIS_TIMEOUT_S = 2.0

log = logging.getLogger("matf.heartbeat")


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def redis_client(url: str, timeout_s: float = REDIS_TIMEOUT_S) -> redis.Redis:
    """A client that gives up after ``timeout_s`` instead of hanging on a dead server."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)


def consumed_queues(app: Celery) -> list[str]:
    """The queues this worker consumes (every declared queue when none was selected)."""
    queues = app.amqp.queues
    return sorted(queues.consume_from or queues)


class Heartbeat:
    """Write one field of a Redis hash now and every ``interval_s`` until stopped."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        field: str,
        payload: Callable[[], dict[str, Any]],
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.key, self.field = key, field
        self._payload = payload
        self._interval_s = interval_s
        self._client = redis_client(redis_url)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {field}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def beat(self) -> None:
        try:
            value = json.dumps({**self._payload(), "at": utc_now()})
            self._client.hset(self.key, self.field, value)
        except (redis.RedisError, OSError) as exc:
            log.debug("heartbeat %s not written: %s", self.field, exc)
        except Exception:  # a bug must not silence the worker's heartbeat for good
            log.exception("heartbeat %s failed", self.field)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.beat()
            self._stopping.wait(self._interval_s)

    def stop(self) -> None:
        """Stop beating and delete the field, so readers see the worker gone at once."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(REDIS_TIMEOUT_S * 2)
        with suppress(redis.RedisError, OSError):
            self._client.hdel(self.key, self.field)
        self._client.close()


def read_entries(client: redis.Redis, key: str) -> dict[str, dict[str, Any]]:
    """Every entry of a heartbeat hash by field, deleting the long-forgotten ones."""
    entries: dict[str, dict[str, Any]] = {}
    forgotten = []
    for field, value in client.hgetall(key).items():
        try:
            entry = json.loads(value)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or age_s(entry) > FORGET_AFTER_S:
            forgotten.append(field)
        else:
            entries[field.decode() if isinstance(field, bytes) else str(field)] = entry
    if forgotten:
        client.hdel(key, *forgotten)
    return entries


def age_s(entry: dict[str, Any]) -> float:
    """Seconds since the entry was written (infinite when it does not say)."""
    try:
        at = datetime.fromisoformat(str(entry["at"]))
    except (KeyError, TypeError, ValueError):
        return float("inf")
    return (datetime.now(UTC) - at).total_seconds()


def is_fresh(entry: dict[str, Any]) -> bool:
    return age_s(entry) <= STALE_AFTER_S


_hostname: str | None = None
_worker_beat: Heartbeat | None = None
_process_beat: Heartbeat | None = None


def _redis_url_of(app: Celery) -> str | None:
    if getattr(app, "matf_embedded", True):
        return None  # in-process workers are watched directly, not through Redis
    return settings_of(app).redis_url


def remember_hostname(sender: Any = None, **_kwargs: Any) -> None:
    """``celeryd_init``: the node name, for prefork children forked later."""
    global _hostname
    _hostname = str(sender) if sender else None


def start_worker_beat(sender: Any = None, **_kwargs: Any) -> None:
    """``worker_ready``: the worker process announces its queues from now on."""
    global _worker_beat
    consumer = sender
    app = consumer.app
    url = _redis_url_of(app)
    if url is None or _worker_beat is not None:
        return
    controller = getattr(consumer, "controller", None)
    static = {
        "queues": consumed_queues(app),
        "pid": os.getpid(),
        "concurrency": getattr(controller, "concurrency", None),
        "pool": type(consumer.pool).__module__.rsplit(".", 1)[-1],
    }

    def payload() -> dict[str, Any]:
        return {**static, "pools": registry.snapshots()}

    _worker_beat = Heartbeat(url, HEARTBEATS, consumer.hostname, payload).start()


def stop_worker_beat(**_kwargs: Any) -> None:
    """``worker_shutdown``."""
    global _worker_beat
    if _worker_beat is not None:
        _worker_beat.stop()
        _worker_beat = None


def start_process_beat(sender: Any = None, **_kwargs: Any) -> None:
    """``worker_process_init``: an executor child reports its browser pools.

    Only starts a thread: a child's initialisation must not block.
    """
    global _process_beat
    app = current_app._get_current_object()
    url = _redis_url_of(app)
    queues = consumed_queues(app)
    if url is None or "executor" not in queues:
        return
    hostname = sender if isinstance(sender, str) else (_hostname or socket.gethostname())
    static = {"worker": hostname, "pid": os.getpid(), "queues": queues}

    def payload() -> dict[str, Any]:
        return {**static, "pools": registry.snapshots()}

    field = f"{hostname}:{os.getpid()}"
    _process_beat = Heartbeat(url, BROWSER_POOLS, field, payload).start()


def stop_process_beat(**_kwargs: Any) -> None:
    """``worker_process_shutdown``."""
    global _process_beat
    if _process_beat is not None:
        _process_beat.stop()
        _process_beat = None
