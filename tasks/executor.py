"""Test executor task: one job (a test in a browser). Stateless: never opens the database."""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from matf.agents.executor import worker_name
from matf.agents.logger import event_key
from matf.pipeline.execute import execute as run_job
from matf.pipeline.execute import timed_out
from matf.pipeline.fanout import ExecutorJob, ShippedFile
from matf.pipeline.shipping import execute_shipped
from tasks.base import MatfTask

# The test this worker thread ran last: (run id, when it ended), for the dispatch gap.
_last = threading.local()


@shared_task(bind=True, base=MatfTask, name="matf.executor.execute")
def execute(self: MatfTask, job: dict[str, Any]) -> dict[str, Any]:
    """Run the job; the result travels back through the chord to the reporter."""
    work = ExecutorJob.model_validate(job)
    spec, browser = work.spec, work.browser
    key = event_key("test_started", work.run_id, spec.id, browser)  # once per re-delivery
    self.emit(
        "test_started", work.run_id, key=key, case_id=spec.id, name=spec.name, browser=browser,
        worker=worker_name(), idle_ms=idle_ms(work.run_id),
    )  # fmt: skip
    files: list[ShippedFile] = []
    shipping = self.shipping
    try:
        if shipping is None:
            result = run_job(work, self.settings)
        else:  # nothing of it stays here: artifacts travel to the logger with the result
            result, files = execute_shipped(work, self.settings, shipping.limit_bytes)
    except SoftTimeLimitExceeded:
        result = timed_out(work)
    _last.ended = (work.run_id, time.perf_counter())
    self.send_result(result, files)  # durable once the logger stores it, whatever Redis does
    return result.model_dump(mode="json")


def idle_ms(run_id: str) -> float | None:
    """Milliseconds since this thread's previous test of the run ended; None for its first.

    The dispatch gap as the worker lives it (result sent, chord counted,
    message acknowledged, the next one fetched and decoded), on one clock:
    the logger's timestamps would measure the logger instead.
    """
    previous = getattr(_last, "ended", None)
    if previous is None or previous[0] != run_id:
        return None
    return round((time.perf_counter() - previous[1]) * 1000, 2)
