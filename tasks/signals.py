"""Per-process resources of a worker: fresh DB connections after fork, browsers closed at exit."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from matf.browser.pool import close_thread_pool
from matf.storage.db import dispose_engines


def _after_fork(**_kwargs: Any) -> None:
    dispose_engines()  # never share the parent's connections; browsers start lazily


def _at_exit(**_kwargs: Any) -> None:
    close_thread_pool()


def connect_worker_signals() -> None:
    worker_process_init.connect(_after_fork, weak=False)
    worker_process_shutdown.connect(_at_exit, weak=False)
