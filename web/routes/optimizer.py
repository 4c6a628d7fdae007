"""The optimizer's analyses, and its quarantine proposals to review.

Each run of the scheduled job (``matf.optimizer.analyse``) stores what it
found; these endpoints serve it. A quarantine proposal changes nothing until
an editor accepts it: then the test, still run and reported, no longer fails
its saved suite. ``POST /optimizer/run`` analyses now instead of at the next
interval.
"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from matf.errors import NotFound
from matf.storage.models import OptimizerAnalysis, QuarantineProposal
from matf.storage.optimizer import (
    as_dict,
    decide,
    get_analysis,
    get_proposal,
    latest_analysis,
    list_analyses,
    list_proposals,
)
from web.models.optimizer import (
    AnalysesQuery,
    AnalysisItem,
    AnalysisList,
    AnalysisOut,
    OptimizerRunAccepted,
    QuarantineOut,
    QuarantinePage,
    QuarantineQuery,
)
from web.routes import api
from web.routes.common import db, iso_req, runtime
from web.security import authorize

bp = Blueprint("optimizer", __name__)


def _analysis(row: OptimizerAnalysis) -> AnalysisOut:
    return AnalysisOut.model_validate(
        {
            "id": row.id,
            "created_at": iso_req(row.created_at),
            "days": row.days,
            "threshold": row.threshold,
            "seconds": row.seconds,
            "summary": row.summary,
            "findings": row.findings,
            "orders": row.orders,
            "links": {
                "self": url_for("optimizer.analysis", analysis_id=row.id),
                "quarantine": url_for("optimizer.quarantine"),
            },
        }
    )


def _proposal(row: QuarantineProposal) -> QuarantineOut:
    links = {"self": url_for("optimizer.proposal", proposal_id=row.id)}
    if row.suite_id:
        links["suite"] = url_for("catalog.suite", suite_id=row.suite_id)
        links["case"] = url_for("catalog.case", suite_id=row.suite_id, case_id=row.case_id)
    if row.analysis_id is not None:
        links["analysis"] = url_for("optimizer.analysis", analysis_id=row.analysis_id)
    return QuarantineOut.model_validate({**as_dict(row), "links": links})


@api.endpoint(
    bp,
    "/optimizer/analysis",
    summary="The latest analysis: flakiest, slowest, clusters and their causes, run orders",
    response=AnalysisOut,
    errors=(404,),
)
def latest() -> AnalysisOut:
    with db() as session:
        row = latest_analysis(session)
        if row is None:
            raise NotFound("no optimizer analysis yet: POST /api/v1/optimizer/run makes one")
        return _analysis(row)


@api.endpoint(
    bp,
    "/optimizer/analyses",
    summary="Past analyses, newest first: when, how long, what they counted",
    query=AnalysesQuery,
    response=AnalysisList,
)
def analyses(query: AnalysesQuery) -> AnalysisList:
    with db() as session:
        rows = list_analyses(session, query.limit)
    return AnalysisList(
        items=[
            AnalysisItem.model_validate(
                {
                    "id": analysis_id,
                    "created_at": iso_req(at),
                    "seconds": seconds,
                    "summary": summary,
                    "links": {"self": url_for("optimizer.analysis", analysis_id=analysis_id)},
                }
            )
            for analysis_id, at, seconds, summary in rows
        ]
    )


@api.endpoint(
    bp,
    "/optimizer/analyses/<int:analysis_id>",
    summary="One stored analysis",
    response=AnalysisOut,
    errors=(404,),
)
def analysis(analysis_id: int) -> AnalysisOut:
    with db() as session:
        return _analysis(get_analysis(session, analysis_id))


@api.endpoint(
    bp,
    "/optimizer/run",
    "POST",
    role="editor",
    summary="Analyse the history now: sends the optimizer's job, even within its interval",
    response=OptimizerRunAccepted,
    status=202,
    errors=(503,),
    notes={202: "Sent; a run of the job already in progress makes it do nothing"},
)
def run_now() -> Response:
    sent = runtime().analyse_now()
    accepted = OptimizerRunAccepted.model_validate(
        {
            **sent,
            "links": {
                "analysis": url_for("optimizer.latest"),
                "schedule": url_for("system.schedule"),
            },
        }
    )
    return Response(accepted.model_dump_json(), status=202, mimetype="application/json")


@api.endpoint(
    bp,
    "/optimizer/quarantine",
    summary="Quarantine proposals, highest score first: pending ones by default",
    query=QuarantineQuery,
    response=QuarantinePage,
)
def quarantine(query: QuarantineQuery) -> QuarantinePage:
    status = None if query.status == "all" else query.status
    with db() as session:
        rows, total = list_proposals(session, status, query.limit, query.offset)
        items = [_proposal(row) for row in rows]
    return QuarantinePage(items=items, total=total, limit=query.limit, offset=query.offset)


@api.endpoint(
    bp,
    "/optimizer/quarantine/<proposal_id>",
    summary="One quarantine proposal",
    response=QuarantineOut,
    errors=(404,),
)
def proposal(proposal_id: str) -> QuarantineOut:
    with db() as session:
        return _proposal(get_proposal(session, proposal_id))


@api.endpoint(
    bp,
    "/optimizer/quarantine/<proposal_id>/accept",
    "POST",
    role="editor",
    summary="Quarantine the test in its saved suite: still run and reported, no longer failing it",
    response=QuarantineOut,
    errors=(404, 409),
)
def accept_proposal(proposal_id: str) -> QuarantineOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _proposal(decide(session, proposal_id, True, by))


@api.endpoint(
    bp,
    "/optimizer/quarantine/<proposal_id>/reject",
    "POST",
    role="editor",
    summary="Keep the test counting; the proposal is closed",
    response=QuarantineOut,
    errors=(404, 409),
)
def reject_proposal(proposal_id: str) -> QuarantineOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _proposal(decide(session, proposal_id, False, by))
