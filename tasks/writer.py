"""Test writer task: explore the target in a browser and store the specs it writes."""

from __future__ import annotations

from celery import shared_task

from matf.errors import MatfError
from matf.pipeline.write import write_run
from tasks.base import MatfTask


@shared_task(bind=True, base=MatfTask, name="matf.writer.write", soft_time_limit=1800)
def write(self: MatfTask, run_id: str) -> str:
    """Explore and write specs for the run (skipped when the run came with a suite)."""
    try:
        written = write_run(self.sessions, self.settings, run_id, self.phases(run_id))
    except MatfError as exc:
        self.fail_run(run_id, exc.message)
        raise
    self.emit("phase", run_id, phase="written", tests=written.tests, pages=written.pages)
    return run_id
