"""Report generator task: the chord callback; safe to run twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task

from matf.errors import ReportsUnwritable
from matf.pipeline.report import collect_results, publish_reports
from matf.reports.pdf import PdfOptions
from tasks.base import MatfTask
from tasks.live import publish


@shared_task(bind=True, base=MatfTask, name="matf.reporter.report")
def report(self: MatfTask, results: list[Any], run_id: str) -> dict[str, Any]:
    """Store the results, write report.json/html/pdf and junit.xml, finish the run."""
    storage = Path(self.settings.storage_path)
    with self.sessions(write=True) as session:
        late = collect_results(session, run_id, results, storage)
    for event in late:
        publish(self.settings, event)
    self.emit("phase", run_id, key=f"phase:reporting:{run_id}", phase="reporting")
    try:
        pdf = PdfOptions.from_settings(self.settings)
        published = publish_reports(self.sessions, run_id, storage, pdf)
    except ReportsUnwritable as exc:
        self.fail_run(run_id, exc.message)
        raise
    summary = published.summary()
    payload = {k: v for k, v in summary.items() if k != "run_id"}
    self.emit("run_finished", run_id, key=f"run_finished:{run_id}", **payload)
    return summary


@shared_task(bind=True, base=MatfTask, name="matf.reporter.salvage")
def salvage(self: MatfTask, task_id: str, run_id: str) -> None:
    """Chord error callback: a task of the fan-out died outright; say so on the run."""
    failure = self.app.AsyncResult(task_id).result
    self.fail_run(run_id, f"task {task_id} failed: {failure!r}")
