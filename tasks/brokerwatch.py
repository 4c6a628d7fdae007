"""A worker says when it loses the broker, once, and when it has it back.

Celery's consumer reconnects by itself, but tells it in a traceback per try;
an operator reading a worker's log wants one line when Redis goes and one
when it returns. ``BrokerWatch`` pings the broker every ``INTERVAL_S`` from a
daemon thread of the worker's main process (distributed mode only; see
``tasks/signals.py``) and logs exactly those two lines, the URL without its
password.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import redis
from celery.exceptions import CPendingDeprecationWarning
from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT
from kombu.utils.url import maybe_sanitize_url
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.app import settings_of

INTERVAL_S = 1.0

log = logging.getLogger("matf.broker")


class BrokerWatch:
    """Ping the broker every ``interval_s``; say once when it goes and once when it is back."""

    def __init__(
        self,
        url: str,
        interval_s: float = INTERVAL_S,
        say: Callable[[str], None] = log.warning,
    ) -> None:
        self.url = maybe_sanitize_url(url)
        self._say = say
        self._interval_s = interval_s
        # One quick try per ping: redis-py's own retries would hide a lost broker for seconds.
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=interval_s,
            socket_timeout=interval_s,
            retry=Retry(NoBackoff(), 0),
        )
        self.lost_at: float | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker watch", daemon=True)

    def start(self) -> BrokerWatch:
        self._thread.start()
        return self

    def check(self) -> bool:
        """One ping; True while the broker answers. Says so when that changes."""
        try:
            self._client.ping()
        except (redis.RedisError, OSError):
            if self.lost_at is None:
                self.lost_at = time.monotonic()
                self._say(f"matf: lost the broker at {self.url}; retrying")
            return False
        if self.lost_at is not None:
            away_s = time.monotonic() - self.lost_at
            self.lost_at = None
            self._say(f"matf: broker back after {away_s:.0f} s")
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.check()
            except Exception:  # a bug must not end the watch, nor the worker
                log.exception("the broker watch failed")
            self._stopping.wait(self._interval_s)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(self._interval_s * 3)
        self._client.close()


_watch: BrokerWatch | None = None


def start_watch(sender: Any = None, **_kwargs: Any) -> None:
    """``worker_ready``: the worker's main process watches its broker from now on."""
    global _watch
    # Celery warns at each reconnection that version 6 will cancel running tasks;
    # tasks/app.py chose to keep them, so the worker's log keeps to the two lines here.
    warnings.filterwarnings(
        "ignore", re.escape(CANCEL_TASKS_BY_DEFAULT), CPendingDeprecationWarning
    )
    app = sender.app
    url = None if getattr(app, "matf_embedded", True) else settings_of(app).redis_url
    if url is not None and _watch is None:  # in-process workers have no broker to lose
        _watch = BrokerWatch(url).start()


def stop_watch(**_kwargs: Any) -> None:
    """``worker_shutdown``."""
    global _watch
    if _watch is not None:
        _watch.stop()
        _watch = None
