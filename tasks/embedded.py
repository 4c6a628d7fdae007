"""Embedded mode: the same tasks and canvas, no broker server, in one process.

Two in-process Celery workers share kombu's in-memory transport: one runs
executors on N threads, the other the five remaining queues, so events and
the reporter never wait behind browser work. Each is its own app instance,
because a worker's queue selection is app-wide state.

A run's browsers are launched while the run is still being set up
(``warm``): each executor thread starts its own (Playwright's sync objects
belong to their thread), and the reporter's PDF printer starts its browser
too when the run prints report.pdf, so neither launch waits on the first
test's or the report's path.
"""

from __future__ import annotations

import threading
from concurrent.futures import wait
from contextlib import suppress
from typing import Any

from celery import Celery
from celery.result import _set_task_join_will_block
from celery.worker import WorkController

from matf.agents import AGENTS
from matf.browser.pool import close_thread_pool, thread_pool
from matf.errors import EnvironmentProblem
from matf.reports.pdf import PdfOptions, close_printers, warm_printer
from matf.settings import Settings
from tasks.app import make_celery

CONTROL_THREADS = 3


class _Worker(WorkController):  # type: ignore[misc]
    """A worker that tells when its consumer is ready."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class EmbeddedWorkers:
    """Start and stop the in-process worker pools."""

    def __init__(self, settings: Settings, executors: int) -> None:
        self.executors = executors
        self.settings = settings
        self._warmed: set[str] = set()
        self._printer_warmed = False
        self.executor_app = make_celery(settings, embedded=True)
        self.control_app = make_celery(settings, embedded=True)
        self._workers: list[tuple[_Worker, threading.Thread, int]] = []

    @property
    def app(self) -> Celery:
        """The app to send runs with."""
        return self.control_app

    @property
    def started(self) -> bool:
        """True once ``start`` has brought the workers up (and until ``stop``)."""
        return bool(self._workers)

    @property
    def workers(self) -> list[tuple[WorkController, threading.Thread]]:
        """Each in-process worker with the thread it runs on, for monitoring."""
        return [(worker, thread) for worker, thread, _threads in self._workers]

    def start(self) -> EmbeddedWorkers:
        for app in (self.executor_app, self.control_app):
            app.loader.import_default_modules()
            app.finalize()
        self.control_app.set_default()
        self.control_app.set_current()
        others = [a for a in AGENTS if a != "executor"]
        self._start(self.executor_app, ["executor"], self.executors, "executor@embedded")
        self._start(self.control_app, others, CONTROL_THREADS, "control@embedded")
        _set_task_join_will_block(False)
        return self

    def _start(self, app: Celery, queues: list[str], threads: int, name: str) -> None:
        worker = _Worker(
            app=app,
            concurrency=threads,
            pool="threads",
            queues=queues,
            hostname=name,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="WARNING",
        )
        thread = threading.Thread(target=worker.start, name=name, daemon=True)
        thread.start()
        if not worker.ready.wait(30):
            raise EnvironmentProblem(f"the embedded {name} worker did not start")
        self._workers.append((worker, thread, threads))

    def warm(self, browsers: tuple[str, ...] | list[str], printer: bool = True) -> None:
        """Launch these browsers in every executor thread, and the PDF printer, now.

        ``printer``: whether the run prints report.pdf; a run that does not
        starts no printer's browser (a later run that does starts it then).
        Never waits: each executor thread takes one launch job before its first
        test (a test queued meanwhile waits for it, as it would have for its own
        launch). A browser that cannot start is told by the tests that need it.
        """
        if not self._workers:
            return
        if printer and not self._printer_warmed:
            self._printer_warmed = True
            warm_printer(PdfOptions.from_settings(self.settings))
        names = [name for name in browsers if name not in self._warmed]
        if not names:
            return
        self._warmed.update(names)
        executor = getattr(self._workers[0][0].pool, "executor", None)
        if executor is None:
            return
        settings = self.settings

        def launch() -> None:
            pool = thread_pool(settings.matf_chromium_path, settings.engine_limits)
            for name in names:
                pool.warm(name)

        for _ in range(self.executors):
            executor.submit(launch)

    def stop(self) -> None:
        """Close each worker thread's browsers (in that thread), then stop the workers."""
        close_printers()
        self._printer_warmed = False
        for worker, _thread, threads in self._workers:
            _in_every_thread(worker, threads, close_thread_pool)
        for worker, thread, _threads in self._workers:
            worker.stop(in_sighandler=False)
            thread.join(30)
        self._workers.clear()

    def __enter__(self) -> EmbeddedWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _in_every_thread(worker: WorkController, threads: int, func: Any) -> None:
    """Run ``func`` once in each thread of a worker's thread pool.

    Playwright's sync objects belong to the thread that made them, so only
    that thread can close them. A barrier makes each thread take one job.
    """
    executor = getattr(worker.pool, "executor", None)
    if executor is None:
        return
    barrier = threading.Barrier(threads)

    def job() -> None:
        try:
            func()
        finally:
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)

    try:
        futures = [executor.submit(job) for _ in range(threads)]
    except RuntimeError:  # the pool already stopped (an interrupt): its threads are gone
        return
    done, _pending = wait(futures, timeout=30)
    for future in done:
        future.result()
