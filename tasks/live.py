"""Live events: the logger agent publishes each new event; the API fans them out.

Distributed, the logger publishes on the Redis channel ``matf:events`` and each
API process relays that channel into its own hub; embedded, the logger runs in
the API's process and publishes into the hub directly. Subscribers are bounded
queues: a slow WebSocket client loses live events (it can resume from the
database by event id), it never slows the logger down.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from matf.settings import Settings

CHANNEL = "matf:events"
log = logging.getLogger("matf.live")


class Hub:
    """In-process fan-out of events to subscribers."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subscribers: set[queue.Queue[dict[str, Any]]] = set()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            with suppress(queue.Full):  # that client resumes from the database
                subscriber.put_nowait(event)

    @contextmanager
    def subscribe(self) -> Iterator[queue.Queue[dict[str, Any]]]:
        inbox: queue.Queue[dict[str, Any]] = queue.Queue(self._maxsize)
        with self._lock:
            self._subscribers.add(inbox)
        try:
            yield inbox
        finally:
            with self._lock:
                self._subscribers.discard(inbox)


HUB = Hub()
_relays: dict[str, threading.Thread] = {}
_relays_lock = threading.Lock()


def publish(settings: Settings, event: dict[str, Any]) -> None:
    """Announce a persisted event to whoever watches; never fails the caller."""
    if settings.redis_url is None:
        HUB.publish(event)
        return
    try:
        _redis(settings.redis_url).publish(CHANNEL, json.dumps(event, default=str))
    except Exception as exc:  # noqa: BLE001 - live view is best effort; the DB has it
        log.debug("cannot publish a live event: %s", exc)


def ensure_relay(settings: Settings) -> None:
    """In distributed mode, relay the Redis channel into this process' hub (once)."""
    url = settings.redis_url
    if url is None:
        return
    with _relays_lock:
        thread = _relays.get(url)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_relay, args=(url,), name="matf-live-relay", daemon=True)
        thread.start()
        _relays[url] = thread


def _relay(url: str) -> None:
    while True:
        try:
            pubsub = _redis(url).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANNEL)
            for message in pubsub.listen():
                if message.get("type") == "message":
                    HUB.publish(json.loads(message["data"]))
        except Exception as exc:  # noqa: BLE001 - reconnect after Redis restarts
            log.debug("live relay lost Redis: %s", exc)
            time.sleep(1.0)


_clients: dict[str, Any] = {}


def _redis(url: str) -> Any:
    client = _clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
        _clients[url] = client
    return client
