"""Runs: start one, list and read them, follow, cancel, re-run, results and reports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Response, abort, send_file, url_for
from pydantic import ValidationError
from sqlalchemy import select

from matf.agents.reporter import build_document, write_reports
from matf.auth import Principal
from matf.errors import Conflict, NotFound
from matf.netguard import NetworkPolicy
from matf.options import REPORT_FILES, NetworkOptions, RunOptions
from matf.reports.document import Exploration
from matf.reports.pdf import PdfOptions
from matf.results import RunStatus, TestResult
from matf.spec import TestSpec
from matf.storage.history import (
    list_runs,
    performance_history,
    result_counts,
    run_duration,
    trend,
)
from matf.storage.models import Event, Run
from matf.storage.result_pages import results_after
from matf.storage.runs import get_run, load_specs, progress, stored_results
from matf.storage.suites import plan_suite
from web.models.runs import (
    ArtifactList,
    EventList,
    EventQuery,
    ExecuteRequest,
    PerfPoint,
    PerfTrendQuery,
    PerfTrends,
    ResultList,
    ResultsQuery,
    RunAccepted,
    RunOut,
    RunPage,
    RunProgress,
    RunQuery,
    TrendQuery,
    Trends,
)
from web.routes import api
from web.routes.common import db, iso, iso_req, report_dir, runtime, settings
from web.security import current_principal

bp = Blueprint("runs", __name__)

REPORTS = {
    "report.html": "text/html",
    "report.json": "application/json",
    "junit.xml": "application/xml",
    "report.pdf": "application/pdf",
}


@api.endpoint(
    bp,
    "/tests/execute",
    "POST",
    role="editor",
    summary="Start a run on a URL, or of a saved suite; answers at once with its id",
    body=ExecuteRequest,
    response=RunAccepted,
    status=202,
    errors=(400, 404, 503),
    notes={
        422: "a body that does not match, or a sign-in that cannot work: a role's "
        "credentials secret missing, a sign-in page off the target's origin"
    },
)
def execute(body: ExecuteRequest) -> Response:
    principal = _principal()
    s = settings()
    specs: list[TestSpec] | None = None
    quarantined: list[str] = []
    target = str(body.url) if body.url is not None else None
    if body.suite_id is not None:
        with db() as session:
            kinds: list[str] | None = list(body.kinds()) if (body.type or body.types) else None
            plan = plan_suite(session, body.suite_id, kinds)
        specs, quarantined = plan.specs, plan.quarantined
        target = target or plan.target
    assert target is not None
    guard = NetworkPolicy.guard(s.matf_allowed_targets)
    options = body.options(s.max_pages, quarantined, guard)
    return _start(principal, target, options, specs, body.suite_id)


def _start(
    principal: Principal,
    target: str,
    options: RunOptions,
    specs: list[TestSpec] | None,
    suite_id: str | None,
) -> Response:
    """Check and start a run; answer at once with where to follow it."""
    run_id, _result = runtime().start_run(
        target, options, specs, created_by=principal.label, suite_id=suite_id
    )
    accepted = RunAccepted(
        run_id=run_id,
        status=RunStatus.QUEUED,
        status_url=url_for("runs.run_status", run_id=run_id),
        links=_links(run_id, options),
    )
    response = Response(accepted.model_dump_json(), status=202, mimetype="application/json")
    response.headers["Location"] = url_for("runs.get_run_detail", run_id=run_id)
    return response


@api.endpoint(
    bp, "/runs", summary="Runs, newest first, with filters", query=RunQuery, response=RunPage
)
def list_all(query: RunQuery) -> RunPage:
    since = _parse_since(query.since)
    with db() as session:
        runs, total = list_runs(
            session, query.status, query.target, query.suite_id, since, query.limit, query.offset
        )
        tallies = result_counts(session, [run.id for run in runs])
        items = [_run_out(run, tallies[run.id]) for run in runs]
    return RunPage(items=items, total=total, limit=query.limit, offset=query.offset)


@api.endpoint(bp, "/runs/<run_id>", summary="One run", response=RunOut, errors=(404,))
def get_run_detail(run_id: str) -> RunOut:
    with db() as session:
        run = get_run(session, run_id)
        out = _run_out(run, result_counts(session, [run_id])[run_id])
        return out.model_copy(update={"exploration": _exploration(run)})


def _exploration(run: Run) -> Exploration | None:
    """The run's stored exploration summary; None when it has none or it is unreadable."""
    try:
        return Exploration.model_validate(run.exploration) if run.exploration else None
    except ValidationError:
        return None


@api.endpoint(
    bp,
    "/runs/<run_id>/status",
    summary="Where a run stands now (poll it, or use /ws)",
    response=RunProgress,
    errors=(404,),
)
def run_status(run_id: str) -> RunProgress:
    with db() as session:
        return RunProgress.model_validate(progress(session, run_id))


@api.endpoint(
    bp,
    "/runs/<run_id>/cancel",
    "POST",
    role="editor",
    summary="Cancel a run",
    response=RunOut,
    errors=(404, 409),
)
def cancel(run_id: str) -> RunOut:
    principal = _principal()
    with db() as session:
        run = get_run(session, run_id)
        if run.status.final:
            raise Conflict(f"run {run_id} has ended already ({run.status})")
    runtime().cancel_run(run_id, f"cancelled by {principal.label}")
    with db() as session:
        run = get_run(session, run_id)
        return _run_out(run, result_counts(session, [run_id])[run_id])


@api.endpoint(
    bp,
    "/runs/<run_id>/rerun",
    "POST",
    role="editor",
    summary="Run the same tests on the same target again",
    response=RunAccepted,
    status=202,
    errors=(404, 409, 422, 503),  # 422: the guard now refuses the run's target
)
def rerun(run_id: str) -> Response:
    principal = _principal()
    with db() as session:
        run = get_run(session, run_id)
        specs = load_specs(session, run_id)
        options, suite_id, target = run.options, run.suite_id, run.target
    if not specs:
        raise Conflict(f"run {run_id} wrote no tests to run again")
    # The same tests and options, new reports, and the server's guard as it is now.
    guard = NetworkPolicy.guard(settings().matf_allowed_targets)
    again = options.model_copy(
        update={"out_dir": None, "suite_file": None, "network": NetworkOptions.of(guard)}
    )
    return _start(principal, target, again, specs, suite_id)


@api.endpoint(
    bp,
    "/runs/<run_id>/results",
    summary="The results of a run, a page at a time; follow `next` for the rest",
    query=ResultsQuery,
    response=ResultList,
    errors=(404,),
    notes={200: "a page in stored order; `next` links the following one, absent at the end"},
)
def results(run_id: str, query: ResultsQuery) -> ResultList:
    with db() as session:
        get_run(session, run_id)
        items, cursor = results_after(
            session, run_id, query.after, query.limit, query.status, query.browser
        )
    if cursor is None:
        return ResultList(items=items)
    args = query.model_dump(exclude_none=True, exclude_defaults=True, exclude={"after", "limit"})
    following = url_for("runs.results", run_id=run_id, after=cursor, limit=query.limit, **args)
    return ResultList(items=items, next=following)


@api.endpoint(
    bp,
    "/runs/<run_id>/events",
    summary="A run's events after an id (live fallback)",
    query=EventQuery,
    response=EventList,
    errors=(404,),
)
def events(run_id: str, query: EventQuery) -> EventList:
    with db() as session:
        get_run(session, run_id)
        rows = session.scalars(
            select(Event)
            .where(Event.run_id == run_id, Event.id > query.after)
            .order_by(Event.id)
            .limit(query.limit)
        ).all()
        items = [
            {
                "id": e.id,
                "kind": e.kind,
                "agent": e.agent,
                "run_id": e.run_id,
                "at": iso_req(e.created_at),
                "payload": e.payload,
            }
            for e in rows
        ]
    return EventList.model_validate({"items": items})


@api.endpoint(
    bp,
    "/runs/<run_id>/artifacts",
    summary="Screenshots and traces of a run",
    response=ArtifactList,
    errors=(404,),
)
def artifacts(run_id: str) -> ArtifactList:
    with db() as session:
        get_run(session, run_id)
        items = []
        for result in stored_results(session, run_id):
            for kind, stored in _artifact_files(result):
                if stored:
                    items.append(
                        {
                            "case_id": result.case_id,
                            "browser": result.browser,
                            "kind": kind,
                            "url": url_for("runs.artifact", run_id=run_id, name=Path(stored).name),
                        }
                    )
    return ArtifactList.model_validate({"items": items})


@api.endpoint(
    bp,
    "/runs/<run_id>/artifacts/<name>",
    summary="One artifact file",
    content_type=("image/png", "application/zip", "video/webm"),
    errors=(404,),
)
def artifact(run_id: str, name: str) -> Response:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", name) or name.startswith("."):
        raise NotFound(f"no artifact {name!r}")
    with db() as session:
        get_run(session, run_id)  # 404 for an unknown run
        stored_ = stored_results(session, run_id)
    known = {Path(stored).name: stored for r in stored_ for _kind, stored in _artifact_files(r)}
    if name not in known:
        raise NotFound(f"no artifact {name!r} in run {run_id}")
    root = (Path(settings().storage_path) / "artifacts").resolve()
    path = (root / known[name]).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound(f"artifact {name!r} is no longer stored")
    kind = ARTIFACT_TYPES[Path(name).suffix]
    return send_file(
        path, mimetype=kind, as_attachment=not name.endswith(".png"), download_name=name
    )


ARTIFACT_TYPES = {".png": "image/png", ".zip": "application/zip", ".webm": "video/webm"}


def _artifact_files(result: TestResult) -> list[tuple[str, str]]:
    """(kind, stored path) of every file a result kept: evidence, video, visual captures."""
    found = [
        (kind, stored)
        for kind in ("screenshot", "trace", "video")
        if (stored := getattr(result.artifacts, kind))
    ]
    for check in result.visual:
        for kind in ("actual", "diff"):
            if stored := getattr(check, kind):
                found.append((f"visual-{kind}", stored))
    return [(kind, stored) for kind, stored in found if Path(stored).suffix in ARTIFACT_TYPES]


@api.endpoint(
    bp,
    "/runs/<run_id>/report/<name>",
    summary="report.html, report.json, junit.xml or report.pdf (those the run's formats name)",
    content_type=("text/html", "application/json", "application/xml", "application/pdf"),
    errors=(404, 409),
    notes={404: "an unknown run or report name, or a report the run's formats did not ask for"},
)
def report(run_id: str, name: str) -> Response:
    if name not in REPORTS:
        raise NotFound(f"no report {name!r}: ask for {', '.join(REPORTS)}")
    path = _report_path(run_id, name) / name
    if not path.is_file():
        raise NotFound(f"run {run_id} has no {name}: {_skipped(path.parent)}")
    response = send_file(
        path,
        mimetype=REPORTS[name],
        as_attachment=name != "report.html",
        download_name=f"{run_id}-{name}",
        max_age=0,
    )
    if name == "report.html":
        # The report's own policy (its script nonce), and a sandbox: page text in a
        # report is the target's, so it gets an opaque origin with no cookies.
        match = re.search(
            rb'http-equiv="Content-Security-Policy" content="([^"]+)"', path.read_bytes()[:4096]
        )
        policy = match.group(1).decode() if match else "default-src 'none'"
        response.headers["Content-Security-Policy"] = f"{policy}; sandbox allow-scripts"
    return response


def _skipped(directory: Path) -> str:
    """Why report.pdf is missing, as report.json says (runs from before it have no reason)."""
    try:
        reason = json.loads((directory / "report.json").read_text("utf-8")).get("pdf_skipped")
    except (OSError, ValueError, AttributeError):
        reason = None
    return str(reason) if reason else "it was not written"


def _report_path(run_id: str, name: str) -> Path:
    """The directory with the run's report ``name``; rebuilt from the database when missing.

    A report the run was not asked to write is a 404 saying so: a file of that
    name in its directory would be another run's.
    """
    with db() as session:
        run = get_run(session, run_id)
        if not run.status.final:
            raise Conflict(f"run {run_id} has not finished: its reports come at the end")
        formats = run.options.formats
        if not run.options.writes(name):
            raise NotFound(
                f"run {run_id} has no {name}: it was not asked for "
                f"(the run's formats: {', '.join(formats)})"
            )
        stored = Path(settings().storage_path) / "reports" / run_id
        directory = report_dir(run)
        if (directory / "report.json").is_file():
            return directory
        document = build_document(session, run_id)
    storage = Path(settings().storage_path)
    pdf = PdfOptions.from_settings(settings())
    write_reports(document, stored, storage / "artifacts", pdf, formats)
    return stored


@api.endpoint(
    bp,
    "/trends",
    summary="Pass rate, duration and flaky count of recent runs",
    query=TrendQuery,
    response=Trends,
)
def trends(query: TrendQuery) -> Trends:
    with db() as session:
        points = trend(session, query.target, query.limit)
        items = [
            {
                "run_id": p["run"].id,
                "target": p["run"].target,
                "status": p["run"].status,
                "finished_at": iso(p["run"].finished_at),
                "pass_rate": p["pass_rate"],
                "duration_s": run_duration(p["run"]),
                "flaky": p["flaky"],
                "total": p["total"],
            }
            for p in points
        ]
    return Trends.model_validate({"items": items})


@api.endpoint(
    bp,
    "/trends/performance",
    summary="Web vitals and timings per page over recent runs",
    query=PerfTrendQuery,
    response=PerfTrends,
)
def performance_trends(query: PerfTrendQuery) -> PerfTrends:
    with db() as session:
        points = performance_history(session, query.target, query.limit, query.page)
    fields = set(PerfPoint.model_fields)
    items = [
        {**{k: v for k, v in p.items() if k in fields}, "finished_at": iso(p["finished_at"])}
        for p in points
    ]
    return PerfTrends.model_validate({"items": items})


def _principal() -> Principal:
    principal = current_principal()
    if principal is None:  # the endpoint's role check ran first
        abort(401)
    return principal


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)  # RunQuery checked it
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _links(run_id: str, options: RunOptions) -> dict[str, str]:
    """Where to follow the run, and its reports: those its formats write."""
    links = {
        "self": url_for("runs.get_run_detail", run_id=run_id),
        "status": url_for("runs.run_status", run_id=run_id),
        "results": url_for("runs.results", run_id=run_id),
        "events": url_for("runs.events", run_id=run_id),
        "live": f"/ws?run_id={run_id}",
        "dashboard": f"/runs/{run_id}",
    }
    for name in (REPORT_FILES[f] for f in options.formats):
        links[name] = url_for("runs.report", run_id=run_id, name=name)
    return links


def _run_out(run: Run, tally: dict[str, int]) -> RunOut:
    return RunOut.model_validate(
        {
            "id": run.id,
            "target": run.target,
            "status": run.status,
            "phase": run.phase,
            "error": run.error,
            "total": run.total,
            "types": list(run.options.types),
            "browsers": list(run.options.browsers),
            "suite_id": run.suite_id,
            "created_by": run.created_by,
            "created_at": iso(run.created_at),
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "duration_s": run_duration(run),
            "counts": tally,
            "links": _links(run.id, run.options),
        }
    )
