"""Report generator task: the chord callback; safe to run twice."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from celery import shared_task
from sqlalchemy.orm import Session

from matf.agents.logger import finished_event, persist
from matf.agents.reporter import build_document, store_results, write_reports
from matf.results import TestResult
from matf.storage.baselines import adopt
from matf.storage.db import session_scope
from matf.storage.runs import finish_run, get_run, set_phase, stored_results
from tasks.base import MatfTask
from tasks.live import publish


@shared_task(bind=True, base=MatfTask, name="matf.reporter.report")
def report(self: MatfTask, results: list[Any], run_id: str) -> dict[str, Any]:
    """Store the results, finish the run, write report.json/html and junit.xml."""
    storage = Path(self.settings.storage_path)
    with session_scope(self.engine, write=True) as session:
        set_phase(session, run_id, "reporting")
        store_results(session, run_id, results)
        # The context manager's part: first captures become baselines, changes candidates.
        stored = stored_results(session, run_id)
        adopt(session, stored, storage / "artifacts", storage / "baselines")
        late = _record_test_events(session, stored)
    for event in late:
        publish(self.settings, event)
    self.emit("phase", run_id, key=f"phase:reporting:{run_id}", phase="reporting")
    with session_scope(self.engine) as session:
        document = build_document(session, run_id)
        out_dir = get_run(session, run_id).options.get("out_dir")
    try:
        if out_dir:
            write_reports(document, Path(out_dir), Path(self.settings.storage_path) / "artifacts")
    except OSError as exc:
        self.fail_run(run_id, f"cannot write reports to {out_dir}: {exc.strerror or exc}")
        raise
    # Only now is the run over: whoever waits on it finds its reports written.
    finished = datetime.fromisoformat(document.run.finished_at or "")
    with session_scope(self.engine, write=True) as session:
        finish_run(session, run_id, document.run.status, finished)
    summary = {
        "run_id": run_id,
        "status": document.run.status,
        "counts": document.run.counts.model_dump(),
        "out_dir": out_dir,
    }
    payload = {k: v for k, v in summary.items() if k != "run_id"}
    self.emit("run_finished", run_id, key=f"run_finished:{run_id}", **payload)
    return summary


def _record_test_events(session: Session, results: list[TestResult]) -> list[dict[str, Any]]:
    """Each test's ``test_finished``, stored now if its executor's is still on its way.

    Executors announce through the logger queue, whose workers may record a
    late ``test_finished`` after this task's ``run_finished``: a watcher that
    stops at ``run_finished`` would miss it. The key is the executor's, so
    whichever of the two arrives second is dropped. Returns the events added.
    """
    added = []
    for result in results:
        event = finished_event(result)
        event_id = persist(session, event)
        if event_id is not None:
            added.append({**event, "id": event_id})
    return added


@shared_task(bind=True, base=MatfTask, name="matf.reporter.salvage")
def salvage(self: MatfTask, task_id: str, run_id: str) -> None:
    """Chord error callback: a task of the fan-out died outright; say so on the run."""
    failure = self.app.AsyncResult(task_id).result
    self.fail_run(run_id, f"task {task_id} failed: {failure!r}")
