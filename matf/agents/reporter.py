"""Report generator agent: the chord's callback. Store results, write the reports.

The chord is the weakest link of a run: a re-delivered executor task can fire
it early or twice. So the reporter checks what it got against the expected
(case, browser) set, stores results idempotently, fills what is missing with an
explicit error, and rebuilds the reports from the database each time: running
it twice writes the same thing.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from matf.agents.signatures import FailureGroups, signatures
from matf.agents.triage import classify
from matf.options import REPORT_FORMATS, ReportFormat
from matf.reports.document import Exploration, ReportDocument, ReportTest, RunSummary
from matf.reports.html import write_html
from matf.reports.jsonfile import write_json
from matf.reports.junit import write_junit
from matf.reports.pdf import PDF_NAME, PdfOptions, PdfSkipped, write_pdf
from matf.results import RunStatus, TestResult, Triage
from matf.storage.healing import record_proposals
from matf.storage.models import Run
from matf.storage.result_pages import stored_documents
from matf.storage.runs import (
    counts,
    get_run,
    load_specs,
    record_healing_usage,
    record_results,
    stored_results,
)

log = logging.getLogger(__name__)

LOST = "no result arrived from the executor (the task was lost)"


def store_results(session: Session, run_id: str, raw: list[Any], missing: str = LOST) -> Run:
    """Validate and store the chord's results; missing ones become errors saying ``missing``."""
    run = get_run(session, run_id)
    specs = load_specs(session, run_id)
    browsers = run.options.browsers
    got: dict[tuple[str, str], TestResult] = {}
    for item in raw:
        try:
            result = TestResult.model_validate(item)
        except ValidationError:
            continue  # an executor crash surfaces below as a missing result
        if result.run_id == run_id:
            got.setdefault(result.key, result)
    for spec in specs:
        for browser in browsers:
            if (spec.id, browser) not in got:
                got[(spec.id, browser)] = TestResult.for_spec(
                    spec, browser, run_id, "error", error=missing, attempts=0
                )
    record_results(session, [_triaged(result) for result in got.values()])
    stored = stored_results(session, run_id)  # the first of re-delivered results won
    record_proposals(session, run, stored)
    usage = healing_usage(stored)
    if usage is not None:
        record_healing_usage(session, run_id, usage)
    return run


def store_result(session: Session, result: TestResult) -> bool:
    """Store one executor's result as it arrives (triaged); False when it was stored before."""
    return record_results(session, [_triaged(result)]) == 1


def healing_usage(results: list[TestResult]) -> dict[str, int] | None:
    """What healing asked of the model in a run, next to the writer's usage (None: no healing)."""
    healed = [r.healing for r in results if r.healing is not None]
    if not healed:
        return None
    return {
        "tests": len(healed),
        "proposals": sum(1 for h in healed if h.changes),
        "passed": sum(1 for h in healed if h.changes and h.outcome == "passed"),
        "calls": sum(h.calls for h in healed),
        "prompt_tokens": sum(h.prompt_tokens for h in healed),
        "completion_tokens": sum(h.completion_tokens for h in healed),
    }


def _triaged(result: TestResult) -> TestResult:
    found = classify(result)
    if found is None:
        return result
    return result.model_copy(update={"triage": Triage(kind=found[0], reason=found[1])})


def build_document(session: Session, run_id: str) -> ReportDocument:
    run = get_run(session, run_id)
    order = {spec.id: i for i, spec in enumerate(load_specs(session, run_id))}
    muted = set(run.options.quarantined)
    written = (run.llm_usage or {}).get("tests") or {}
    # Each stored result is validated once, straight into its report entry: at 10,000
    # results a TestResult per row and a ReportTest made from it cost twice the time.
    tests = sorted(
        (_report_test(data, muted, written) for data in stored_documents(session, run_id)),
        key=lambda t: (order.get(t.case_id, len(order)), t.browser),
    )
    tally = counts(tests)
    causes = FailureGroups()
    for test in tests:
        found = signatures(test)
        if found:
            test.signatures = [sig.id for sig in found]
            causes.add(test, found, test.id)
    if run.status.final and run.finished_at is not None:
        status, finished = run.status, run.finished_at  # a second report of an ended run
    else:
        # Quarantined tests run and are reported, but do not fail the run.
        failing = [t for t in tests if t.status in ("failed", "error") and not t.quarantined]
        status = RunStatus.FAILED if failing else RunStatus.PASSED
        finished = datetime.now(UTC)
    started = run.started_at or run.created_at
    duration = (finished - started).total_seconds()
    summary = RunSummary(
        id=run.id,
        target=run.target,
        status=status,  # type: ignore[arg-type]
        started_at=_iso(started),
        finished_at=_iso(finished),
        duration_s=round(max(duration, 0.0), 3),
        browsers=list(run.options.browsers),
        types=list(run.options.types),
        error=run.error,
        counts=tally,  # type: ignore[arg-type]
        llm=run.llm_usage,
        healing=run.healing_usage,
        exploration=_exploration(run.exploration),
    )
    return ReportDocument(run=summary, failure_groups=causes.groups(), tests=tests)


def _report_test(data: dict[str, Any], muted: set[str], written: dict[str, Any]) -> ReportTest:
    """One stored result as its report entry: its id, quarantine and model usage added."""
    test = ReportTest.model_validate(
        {
            **data,
            "id": f"{data['case_id']}:{data['browser']}",
            "quarantined": data["case_id"] in muted,
        }
    )
    test.llm = _test_usage(written.get(test.case_id), test)
    return test


def _test_usage(written: dict[str, Any] | None, result: TestResult) -> dict[str, Any] | None:
    """Its share of writing (the same on every browser's line: written once) plus its healing."""
    healing = result.healing
    if not written and (healing is None or not healing.calls):
        return None
    usage = {"calls": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
    for part in (written or {}, healing.model_dump() if healing is not None else {}):
        for key in usage:
            usage[key] += part.get(key) or 0
    usage["calls"] = round(usage["calls"], 3)
    return usage


def _exploration(stored: dict[str, Any] | None) -> Exploration | None:
    """The run's stored exploration summary; None when absent or unreadable (a report still)."""
    try:
        return Exploration.model_validate(stored) if stored is not None else None
    except ValidationError:
        log.warning("run exploration summary unreadable, left out of the report")
        return None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def write_reports(
    document: ReportDocument,
    out_dir: Path,
    artifacts_root: Path,
    pdf: PdfOptions | None = None,
    formats: Collection[ReportFormat] = REPORT_FORMATS,
) -> dict[str, Path]:
    """Write the asked ``formats`` of the report (artifacts too) into ``out_dir``.

    report.json is always written: the dashboard and the run's summary read it.
    A format not asked is neither written nor removed: the file of that name
    in ``out_dir``, if any, is not this run's, and may not be MATF's.
    report.pdf, when asked, is optional: when it cannot be printed,
    report.json's ``pdf_skipped`` says why and the others are written all the same.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = document.model_dump(mode="json")
    data.pop("pdf_skipped", None)
    for test in data["tests"]:
        for kind in ("screenshot", "trace", "video"):
            stored = test["artifacts"].get(kind)
            test["artifacts"][kind] = _copy_artifact(stored, artifacts_root, out_dir)
        for check in test.get("visual") or []:
            for kind in ("actual", "diff"):
                check[kind] = _copy_artifact(check.get(kind), artifacts_root, out_dir)
    paths = {}
    if "html" in formats:
        paths["html"] = write_html(data, out_dir)
    if "junit" in formats:
        paths["junit"] = write_junit(data, out_dir)
    if "pdf" in formats:
        try:
            paths["pdf"] = write_pdf(data, out_dir, pdf or PdfOptions())
        except PdfSkipped as exc:
            (out_dir / PDF_NAME).unlink(missing_ok=True)  # an older run's PDF would mislead
            data["pdf_skipped"] = exc.message
            log.warning("report.pdf skipped for run %s: %s", document.run.id, exc.message)
    paths["json"] = write_json(data, out_dir / "report.json")
    return paths


def _copy_artifact(stored: str | None, root: Path, out_dir: Path) -> str | None:
    if not stored:
        return None
    source = (root / stored).resolve()
    if not source.is_file() or root.resolve() not in source.parents:
        return None
    relative = Path("artifacts") / source.name
    target = out_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if source != target.resolve():
        shutil.copyfile(source, target)
    return relative.as_posix()
