"""Healing proposals to review: new locators for tests whose element is gone.

A proposal changes nothing until an editor accepts it; then its locators, and
only they, go into the saved suite the run came from.
"""

from __future__ import annotations

from flask import Blueprint, url_for

from matf.storage.healing import accept, as_dict, get_proposal, list_proposals, reject
from matf.storage.models import HealingProposal
from web.models.healing import HealingOut, HealingPage, HealingQuery
from web.routes import api
from web.routes.common import db
from web.security import authorize

bp = Blueprint("healing", __name__)


def _out(row: HealingProposal) -> HealingOut:
    links = {
        "self": url_for("healing.proposal", proposal_id=row.id),
        "run": url_for("runs.get_run_detail", run_id=row.run_id),
    }
    if row.suite_id:
        links["case"] = url_for("catalog.case", suite_id=row.suite_id, case_id=row.case_id)
    return HealingOut.model_validate({**as_dict(row), "links": links})


@api.endpoint(
    bp,
    "/healing",
    summary="Healing proposals, newest first: pending ones by default",
    query=HealingQuery,
    response=HealingPage,
)
def proposals(query: HealingQuery) -> HealingPage:
    status = None if query.status == "all" else query.status
    with db() as session:
        rows, total = list_proposals(session, query.run, status, query.limit, query.offset)
        items = [_out(row) for row in rows]
    return HealingPage(items=items, total=total, limit=query.limit, offset=query.offset)


@api.endpoint(
    bp, "/healing/<proposal_id>", summary="One healing proposal", response=HealingOut, errors=(404,)
)
def proposal(proposal_id: str) -> HealingOut:
    with db() as session:
        return _out(get_proposal(session, proposal_id))


@api.endpoint(
    bp,
    "/healing/<proposal_id>/accept",
    "POST",
    role="editor",
    summary="Apply a pending proposal's new locators to the run's saved suite",
    response=HealingOut,
    errors=(404, 409),
)
def accept_proposal(proposal_id: str) -> HealingOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _out(accept(session, proposal_id, by))


@api.endpoint(
    bp,
    "/healing/<proposal_id>/reject",
    "POST",
    role="editor",
    summary="Keep the test as it is; the proposal is closed",
    response=HealingOut,
    errors=(404, 409),
)
def reject_proposal(proposal_id: str) -> HealingOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _out(reject(session, proposal_id, by))
