"""How the API reaches the agents: a Redis broker, or workers inside this process.

Distributed (``REDIS_URL`` set): runs go to Redis; worker pools run elsewhere.
Embedded: the API starts MATF's in-process workers on the first run it is
asked for (not at start: a server that only reads should not hold browsers),
and stops them at exit. Embedded mode is one process: serve it with one
gunicorn worker (``matf serve`` does).
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

from matf.settings import Settings
from tasks.app import make_celery

if TYPE_CHECKING:
    from celery import Celery

    from tasks.embedded import EmbeddedWorkers


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.distributed = settings.distributed
        self._lock = threading.Lock()
        self._embedded: EmbeddedWorkers | None = None
        self._app: Celery | None = make_celery(settings) if self.distributed else None
        self._probe: Celery | None = None  # embedded, before the workers start

    @property
    def mode(self) -> str:
        return "distributed" if self.distributed else "embedded"

    @property
    def embedded(self) -> EmbeddedWorkers | None:
        return self._embedded

    def app(self, start: bool = True) -> Celery:
        """The Celery app to send with; in embedded mode, start the workers first."""
        if self._app is not None:
            return self._app
        with self._lock:
            if self._embedded is None:
                if not start:
                    if self._probe is None:
                        self._probe = make_celery(self.settings, embedded=True)
                    return self._probe
                from tasks.embedded import EmbeddedWorkers

                workers = EmbeddedWorkers(self.settings, self.settings.matf_embedded_workers)
                self._embedded = workers.start()
                atexit.register(self.close)
            return self._embedded.app

    def close(self) -> None:
        with self._lock:
            if self._embedded is not None:
                self._embedded.stop()
                self._embedded = None
