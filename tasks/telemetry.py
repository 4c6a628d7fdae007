"""Best-effort messages: events and results a task sends on its way, never its verdict.

A test that finished has its answer; the broker being away for a moment
(a Redis restart) must not turn that answer into a failure. ``publish``
sends one task message, retrying the broker connection for about
``retry_for_s`` seconds, and gives up with one warning line instead of
raising. What it gives up on is recovered elsewhere: a finished test's
result travels back through the chord too, and the run supervisor
(``tasks/supervisor.py``) runs again a test whose result never arrived.

``publish_later`` takes those messages off the task's critical path: each
process has one ``Outbox``, a bounded queue that one daemon thread drains
in order, through ``publish``. A test starts while its ``test_started``
is on its way, and its result travels while Celery stores the task's own
result and counts the chord. Whoever needs a message on the broker waits
for it (``Sent.wait``); ``flush`` waits for all of them, as a worker that
stops cleanly does (a pool process, or the whole embedded worker): none is
lost then. A process killed outright loses what its outbox held: events are
best effort, and a result still travels through the chord.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery.signals import worker_process_shutdown, worker_shutdown

from tasks.monitor import first_line

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("matf.telemetry")

# kombu sleeps 0, 0.5, 1, 1.5, 2, 2, ... seconds between its tries to reconnect.
INTERVAL_START_S, INTERVAL_STEP_S, INTERVAL_MAX_S = 0.0, 0.5, 2.0
OUTBOX_SIZE = 1000  # messages waiting; a full outbox makes its sender publish inline
FLUSH_AT_EXIT_S = 15.0  # a worker stopping waits this long for its outbox, at most


def retry_policy(retry_for_s: float) -> dict[str, float]:
    """kombu's publish retry policy whose sleeps add up to about ``retry_for_s`` seconds."""
    retries, slept, interval = 0, 0.0, INTERVAL_START_S
    while slept < retry_for_s:
        retries += 1
        slept += interval
        interval = min(interval + INTERVAL_STEP_S, INTERVAL_MAX_S)
    return {
        "max_retries": max(retries, 1),
        "interval_start": INTERVAL_START_S,
        "interval_step": INTERVAL_STEP_S,
        "interval_max": INTERVAL_MAX_S,
    }


def publish(
    app: Celery,
    name: str,
    args: list[Any],
    queue: str,
    *,
    retry_for_s: float = 20.0,
    task_id: str | None = None,
    what: str | None = None,
) -> bool:
    """Send task ``name`` to ``queue``; False (and one warning) if the broker stayed away.

    Never raises: the caller's work is done, and this message is not what
    decides it. ``what`` names the message in that warning (the task's name
    by default). The message asks for no result and is no child of the
    calling task, so sending it subscribes to nothing and stores nothing.
    """
    started = time.monotonic()
    try:
        app.send_task(
            name,
            args=args,
            queue=queue,
            task_id=task_id,
            ignore_result=True,
            add_to_parent=False,
            retry=True,
            retry_policy=retry_policy(retry_for_s),
        )
    except Exception as exc:  # noqa: BLE001 - telemetry never fails the work it reports
        log.warning(
            "matf: gave up sending %s after %.1f s: %s",
            what or (f"{name} {task_id}" if task_id else name),
            time.monotonic() - started,
            first_line(exc),
        )
        return False
    return True


@dataclass
class Sent:
    """A message handed to the outbox: ``wait`` until it is published or given up on."""

    app: Celery
    name: str
    args: list[Any]
    queue: str
    options: dict[str, Any]
    ok: bool | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def send(self) -> None:
        try:
            self.ok = publish(self.app, self.name, self.args, self.queue, **self.options)
        finally:
            self._done.set()

    def wait(self, timeout_s: float | None = None) -> bool | None:
        """True once published, False when given up on, None if still on its way."""
        self._done.wait(timeout_s)
        return self.ok


class Outbox:
    """One process' messages, published in the order they came by one daemon thread.

    The thread starts with the first message. A forked child (a prefork pool
    process) starts with an empty outbox of its own: the parent's thread is
    not in it, and the parent's messages are the parent's to send.
    """

    def __init__(self, size: int = OUTBOX_SIZE) -> None:
        self._size = size
        self._reset()

    def _reset(self) -> None:
        """Start afresh: in a forked child the parent's thread is gone, its lock maybe held."""
        self._messages: queue.Queue[Sent] = queue.Queue(self._size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, message: Sent) -> Sent:
        self._start()
        try:
            self._messages.put_nowait(message)
        except queue.Full:  # the broker is slower than the work: the sender pays, nothing drops
            message.send()
        return message

    def flush(self, timeout_s: float) -> bool:
        """Wait until every message put so far is published or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        pending = self._messages.all_tasks_done
        with pending:
            while self._messages.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pending.wait(left)
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="matf outbox", daemon=True)
                self._thread.start()
                _flush_when_workers_stop()

    def _drain(self) -> None:
        while True:
            message = self._messages.get()
            try:
                message.send()
            finally:
                self._messages.task_done()


OUTBOX = Outbox()
os.register_at_fork(after_in_child=OUTBOX._reset)


def publish_later(
    app: Celery,
    name: str,
    args: list[Any],
    queue: str,
    *,
    retry_for_s: float = 20.0,
    task_id: str | None = None,
    what: str | None = None,
) -> Sent:
    """``publish`` from this process' outbox thread; returns at once, in order with the rest."""
    options = {"retry_for_s": retry_for_s, "task_id": task_id, "what": what}
    return OUTBOX.put(Sent(app, name, args, queue, options))


def flush(timeout_s: float = FLUSH_AT_EXIT_S) -> bool:
    """Wait for this process' outbox to empty; False on timeout."""
    return OUTBOX.flush(timeout_s)


def _flush_at_exit(**_kwargs: Any) -> None:
    if not flush():
        log.warning("matf: stopped with messages still unsent after %.0f s", FLUSH_AT_EXIT_S)


def _flush_when_workers_stop() -> None:
    """Flush when a pool process, or a worker of this process (embedded), stops cleanly."""
    for signal in (worker_process_shutdown, worker_shutdown):
        signal.connect(_flush_at_exit, weak=False, dispatch_uid="matf.telemetry.flush")
