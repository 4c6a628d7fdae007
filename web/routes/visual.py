"""Visual baselines to review, and the performance budgets of each target."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_file, url_for

from matf.agents.context import origin, save_budgets, stored_budgets, validate_url
from matf.errors import NotFound
from matf.spec import Budgets
from matf.storage.baselines import (
    approve,
    as_dict,
    get_baseline,
    image_path,
    list_baselines,
    reject,
)
from matf.storage.models import Baseline
from web.models.visual import (
    BaselineList,
    BaselineOut,
    BaselineQuery,
    BudgetsOut,
    BudgetsUpdate,
    TargetQuery,
)
from web.routes import api
from web.routes.common import db, settings
from web.security import authorize

bp = Blueprint("visual", __name__)


def _root() -> Path:
    return Path(settings().storage_path) / "baselines"


def _out(row: Baseline) -> BaselineOut:
    links = {"image": url_for("visual.baseline_image", baseline_id=row.id, which="image")}
    if row.diff:
        links["diff"] = url_for("visual.baseline_image", baseline_id=row.id, which="diff")
    if row.run_id:
        links["run"] = url_for("runs.get_run_detail", run_id=row.run_id)
    return BaselineOut.model_validate({**as_dict(row), "links": links})


@api.endpoint(
    bp,
    "/baselines",
    summary="Visual baselines: pending changes to review by default",
    query=BaselineQuery,
    response=BaselineList,
)
def baselines(query: BaselineQuery) -> BaselineList:
    status = None if query.status == "all" else query.status
    with db() as session:
        rows = list_baselines(session, status, query.run_id, limit=query.limit)
        return BaselineList(items=[_out(row) for row in rows])


@api.endpoint(
    bp,
    "/baselines/<int:baseline_id>/approve",
    "POST",
    role="editor",
    summary="Make a pending capture the baseline",
    response=BaselineOut,
    errors=(404, 409),
)
def approve_baseline(baseline_id: int) -> BaselineOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _out(approve(session, baseline_id, _root(), by))


@api.endpoint(
    bp,
    "/baselines/<int:baseline_id>/reject",
    "POST",
    role="editor",
    summary="Keep the current baseline; the pending capture is deleted",
    response=BaselineOut,
    errors=(404, 409),
)
def reject_baseline(baseline_id: int) -> BaselineOut:
    by = authorize("editor").label
    with db(write=True) as session:
        return _out(reject(session, baseline_id, _root(), by))


@api.endpoint(
    bp,
    "/baselines/<int:baseline_id>/<which>",
    summary="A baseline's image, or the diff of a pending change",
    content_type=("image/png",),
    errors=(404,),
)
def baseline_image(baseline_id: int, which: str) -> Response:
    if which not in ("image", "diff"):
        raise NotFound(f"no {which!r} image: ask for image or diff")
    with db() as session:
        path = image_path(get_baseline(session, baseline_id), _root(), which)
    return send_file(path, mimetype="image/png")


def _budgets_out(url: str, saved: dict[str, float | None]) -> BudgetsOut:
    return BudgetsOut(
        origin=origin(url), saved=saved, effective=Budgets.model_validate(saved).model_dump()
    )


@api.endpoint(
    bp,
    "/budgets",
    summary="A target's performance budgets",
    query=TargetQuery,
    response=BudgetsOut,
    errors=(400,),
)
def budgets(query: TargetQuery) -> BudgetsOut:
    url = validate_url(str(query.url))
    with db() as session:
        return _budgets_out(url, stored_budgets(session, url))


@api.endpoint(
    bp,
    "/budgets",
    "PUT",
    role="editor",
    summary="Set a target's performance budgets (all runs against it use them)",
    body=BudgetsUpdate,
    response=BudgetsOut,
    errors=(400,),
)
def set_budgets(body: BudgetsUpdate) -> BudgetsOut:
    authorize("editor")
    url = validate_url(str(body.url))
    with db(write=True) as session:
        saved = save_budgets(session, url, body.budgets or None)
    return _budgets_out(url, saved)
