"""The reporter's step, in two halves: collect the results, then publish the reports.

Safe to run twice: results are stored once per (run, case, browser), the
reports are rebuilt from the database, and a run keeps its first verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from matf.agents.logger import finished_event, persist
from matf.agents.reporter import LOST, build_document, store_result, store_results, write_reports
from matf.errors import ReportsUnwritable
from matf.reports.pdf import PdfOptions
from matf.results import RunStatus, TestResult
from matf.storage.baselines import adopt
from matf.storage.db import Sessions
from matf.storage.runs import finish_run, get_run, set_phase, stored_results


@dataclass(frozen=True)
class Published:
    """A run's verdict and where its reports went."""

    run_id: str
    status: RunStatus
    counts: dict[str, int]
    out_dir: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "counts": self.counts,
            "out_dir": self.out_dir,
        }


def collect_results(
    session: Session, run_id: str, results: list[Any], storage: Path, missing: str = LOST
) -> list[dict[str, Any]]:
    """Store the chord's results, the missing ones as errors saying ``missing``.

    Results already stored (each executor's, through the logger) stay as they
    are. Returns the ``test_finished`` events added.

    The context manager's part is done here too: first captures become visual
    baselines, changed ones candidates.
    """
    set_phase(session, run_id, "reporting")
    store_results(session, run_id, results, missing)
    stored = stored_results(session, run_id)
    adopt(session, stored, storage / "artifacts", storage / "baselines")
    return record_test_events(session, stored)


def publish_reports(
    sessions: Sessions, run_id: str, storage: Path, pdf: PdfOptions | None = None
) -> Published:
    """Write the run's report formats (report.json always), then end the run with its verdict.

    Only once the files are written is the run over: whoever waits on it finds
    its reports there.
    """
    with sessions(False) as session:
        document = build_document(session, run_id)
        options = get_run(session, run_id).options
    out_dir = options.out_dir
    try:
        if out_dir:
            write_reports(document, Path(out_dir), storage / "artifacts", pdf, options.formats)
    except OSError as exc:
        reason = f"cannot write reports to {out_dir}: {exc.strerror or exc}"
        raise ReportsUnwritable(reason) from exc
    finished = datetime.fromisoformat(document.run.finished_at or "")
    status = RunStatus(document.run.status)
    with sessions(True) as session:
        finish_run(session, run_id, status, finished)
    return Published(run_id, status, document.run.counts.model_dump(), out_dir)


def record_test_events(session: Session, results: list[TestResult]) -> list[dict[str, Any]]:
    """Each test's ``test_finished``, stored now if its executor's is still on its way.

    Executors announce through the logger queue, whose workers may record a
    late ``test_finished`` after the reporter's ``run_finished``: a watcher that
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


def record_finished(session: Session, result: TestResult) -> dict[str, Any] | None:
    """An executor's result, durable from now on: its row and its ``test_finished`` event.

    Whatever happens to the broker afterwards, the reporter and the run
    supervisor find it here. Returns the event when it is new (for live
    watchers), None for a re-delivery.
    """
    store_result(session, result)
    event = finished_event(result)
    event_id = persist(session, event)
    return None if event_id is None else {**event, "id": event_id}
