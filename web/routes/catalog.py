"""Targets, saved suites and their test cases: what users own and edit."""

from __future__ import annotations

from flask import Blueprint

from matf.spec import TestSpec
from matf.storage.history import list_targets
from matf.storage.models import Suite, SuiteCase
from matf.storage.suites import (
    case_counts,
    create_suite,
    get_case,
    get_suite,
    list_suites,
    suite_cases,
    suite_from_run,
    update_case,
    validate_spec,
)
from web.models.catalog import (
    CaseList,
    CaseOut,
    CaseUpdate,
    Page,
    SuiteCreate,
    SuiteOut,
    SuitePage,
    TargetList,
)
from web.routes import api
from web.routes.common import db, iso_req
from web.security import authorize

bp = Blueprint("catalog", __name__)


@api.endpoint(bp, "/targets", summary="Sites MATF has tested", response=TargetList)
def targets() -> TargetList:
    with db() as session:
        items = [
            {
                "origin": t.origin,
                "url": t.url,
                "title": t.title,
                "pages": len(t.site_map or []),
                "last_status": t.last_status,
                "checked_at": iso_req(t.checked_at),
                "runs": runs,
            }
            for t, runs in list_targets(session)
        ]
    return TargetList.model_validate({"items": items})


@api.endpoint(bp, "/suites", summary="Saved suites", query=Page, response=SuitePage)
def suites(query: Page) -> SuitePage:
    with db() as session:
        rows, total = list_suites(session, query.limit, query.offset)
        counted = case_counts(session, [s.id for s in rows])
        items = [_suite_out(s, counted.get(s.id, 0)) for s in rows]
    return SuitePage(items=items, total=total, limit=query.limit, offset=query.offset)


@api.endpoint(
    bp,
    "/suites",
    "POST",
    role="editor",
    summary="Save a run's tests, or import tests",
    body=SuiteCreate,
    response=SuiteOut,
    status=201,
    errors=(400, 404),
)
def new_suite(body: SuiteCreate) -> SuiteOut:
    by = authorize("editor").label
    with db(write=True) as session:
        if body.run_id is not None:
            suite = suite_from_run(session, body.run_id, body.name, by)
        else:
            specs: list[TestSpec] = [validate_spec(t) for t in body.tests or []]
            suite = create_suite(session, body.name, str(body.target), specs, by)
        out = _suite_out(suite, case_counts(session, [suite.id]).get(suite.id, 0))
    return out


@api.endpoint(bp, "/suites/<suite_id>", summary="One suite", response=SuiteOut, errors=(404,))
def suite(suite_id: str) -> SuiteOut:
    with db() as session:
        row = get_suite(session, suite_id)
        return _suite_out(row, case_counts(session, [suite_id]).get(suite_id, 0))


@api.endpoint(
    bp,
    "/suites/<suite_id>",
    "DELETE",
    role="editor",
    summary="Delete a suite",
    status=204,
    errors=(404,),
)
def delete_suite(suite_id: str) -> None:
    with db(write=True) as session:
        session.delete(get_suite(session, suite_id))


@api.endpoint(
    bp, "/suites/<suite_id>/cases", summary="The tests of a suite", response=CaseList, errors=(404,)
)
def cases(suite_id: str) -> CaseList:
    with db() as session:
        return CaseList(items=[_case_out(row) for row in suite_cases(session, suite_id)])


@api.endpoint(
    bp,
    "/suites/<suite_id>/cases/<case_id>",
    summary="One test of a suite",
    response=CaseOut,
    errors=(404,),
)
def case(suite_id: str, case_id: str) -> CaseOut:
    with db() as session:
        return _case_out(get_case(session, suite_id, case_id))


@api.endpoint(
    bp,
    "/suites/<suite_id>/cases/<case_id>",
    "PATCH",
    role="editor",
    summary="Edit a test's spec (validated), disable it or quarantine it",
    body=CaseUpdate,
    response=CaseOut,
    errors=(404,),
)
def edit_case(suite_id: str, case_id: str, body: CaseUpdate) -> CaseOut:
    by = authorize("editor").label
    with db(write=True) as session:
        row = update_case(session, suite_id, case_id, by, body.spec, body.enabled, body.quarantined)
        return _case_out(row)


def _suite_out(suite: Suite, cases_: int) -> SuiteOut:
    return SuiteOut(
        id=suite.id,
        name=suite.name,
        target=suite.target,
        created_by=suite.created_by,
        created_at=iso_req(suite.created_at),
        updated_at=iso_req(suite.updated_at),
        cases=cases_,
    )


def _case_out(row: SuiteCase) -> CaseOut:
    return CaseOut(
        case_id=row.case_id,
        name=str(row.spec.get("name", row.case_id)),
        kind=str(row.spec.get("kind", "functional")),
        position=row.position,
        enabled=row.enabled,
        quarantined=row.quarantined,
        updated_by=row.updated_by,
        updated_at=iso_req(row.updated_at),
        spec=row.spec,
    )
