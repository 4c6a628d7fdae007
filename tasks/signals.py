"""Per-process resources of a worker: database connections, browsers, heartbeats.

Fresh DB connections after fork, browsers closed at exit, and in distributed
mode the heartbeats of ``tasks/heartbeat.py`` and the broker watch of
``tasks/brokerwatch.py`` (they do nothing embedded).
"""

from __future__ import annotations

from typing import Any

from celery.signals import (
    celeryd_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from matf.browser.pool import close_thread_pool
from matf.storage.db import dispose_engines
from tasks import brokerwatch, heartbeat


def _after_fork(**kwargs: Any) -> None:
    dispose_engines()  # never share the parent's connections; browsers start lazily
    heartbeat.start_process_beat(**kwargs)


def _at_exit(**_kwargs: Any) -> None:
    heartbeat.stop_process_beat()
    close_thread_pool()


def connect_worker_signals() -> None:
    worker_process_init.connect(_after_fork, weak=False)
    worker_process_shutdown.connect(_at_exit, weak=False)
    celeryd_init.connect(heartbeat.remember_hostname, weak=False)
    worker_ready.connect(heartbeat.start_worker_beat, weak=False)
    worker_shutdown.connect(heartbeat.stop_worker_beat, weak=False)
    worker_ready.connect(brokerwatch.start_watch, weak=False)
    worker_shutdown.connect(brokerwatch.stop_watch, weak=False)
