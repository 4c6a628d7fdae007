"""Best-effort messages: events and results a task sends on its way, never its verdict.

A test that finished has its answer; the broker being away for a moment
(a Redis restart) must not turn that answer into a failure. ``publish``
sends one task message, retrying the broker connection for about
``retry_for_s`` seconds, and gives up with one warning line instead of
raising. What it gives up on is recovered elsewhere: a finished test's
result travels back through the chord too, and the run supervisor
(``tasks/supervisor.py``) runs again a test whose result never arrived.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from tasks.monitor import first_line

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("matf.telemetry")

# kombu sleeps 0, 0.5, 1, 1.5, 2, 2, ... seconds between its tries to reconnect.
INTERVAL_START_S, INTERVAL_STEP_S, INTERVAL_MAX_S = 0.0, 0.5, 2.0


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
