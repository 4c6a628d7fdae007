"""The dashboard: server-rendered pages, a little JavaScript, no build step.

Signing in sets two cookies: ``matf_session`` (the JWT; HttpOnly,
SameSite=Strict, Secure in production) and ``matf_csrf`` (readable by the
page's script, echoed in ``X-CSRF-Token`` on every unsafe request). Pages
read the database directly; live parts use the same API and ``/ws``.

Everything a target controls (titles, URLs, errors, console messages, step
descriptions, test names) reaches the page through Jinja's autoescape here,
or through ``textContent`` in the scripts: never as markup. The CSP forbids
inline scripts and styles, so data travels to the scripts in ``data-``
attributes, and charts are SVG drawn here with classes, not style attributes.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response as WerkzeugResponse

from matf.auth import Principal, authenticate, issue_token
from matf.errors import AuthError, NotFound, TooManyAttempts, UsageError
from matf.options import ALWAYS_WRITTEN, REPORT_FILES, REPORT_FORMATS
from matf.reports.causes import prepare_causes
from matf.reports.jsonfile import read_head
from matf.results import RunStatus, TestResult
from matf.spec import KINDS, describe_locator
from matf.storage.baselines import list_baselines
from matf.storage.healing import STATUSES as HEALING_STATUSES
from matf.storage.healing import as_dict, changes_of, list_proposals
from matf.storage.history import list_runs, pass_rate, result_counts, run_duration, trend
from matf.storage.models import HealingProposal, Run, User
from matf.storage.result_pages import passed_page, problems_page
from matf.storage.runs import get_run, progress
from matf.storage.suites import case_counts, get_suite, list_suites, suite_cases
from web.routes.common import db, report_dir, settings
from web.security import CSRF_COOKIE, SESSION_COOKIE, current_principal, jwt_secret, new_csrf_token
from web.signin import (
    LOGIN_CSRF_COOKIE,
    check_login_csrf,
    counted_sign_in,
    login_form_token,
    set_login_cookie,
)

bp = Blueprint(
    "dashboard",
    __name__,
    static_folder="static",
    template_folder="templates",
    static_url_path="/static",
)

RUN_STATUSES = tuple(status.value for status in RunStatus)
PAGE_SIZE = 20
RESULTS_PAGE_SIZE = 50  # a run's problems, each with its evidence: a page reads at a glance
RUN_PAGE_CAUSES = 10  # failure causes on a run's page; report.html lists them all
MAX_OFFSET = 1_000_000  # as the API's pages: SQLite's OFFSET takes no more than 64 bits
CHART_W, CHART_H, CHART_PAD = 320, 110, 12


def _signed_in() -> Principal | None:
    """The principal of this request, or None (no cookie, or one that expired)."""
    try:
        principal = current_principal()
    except AuthError:
        principal = None
    if principal is not None:
        g.user = principal
    return principal


def page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page for signed-in people; everyone else goes to sign in, and comes back."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _signed_in() is None:
            back = request.full_path if request.query_string else request.path
            return redirect(url_for("dashboard.login_form", next=back))
        try:
            return view(*args, **kwargs)
        except NotFound as exc:
            return render_template("missing.html", message=exc.message), 404

    return wrapper


@bp.app_template_filter("when")
def _when(value: datetime | str | None) -> str:
    """A moment as UTC, to the second: readable, and the same for every reader."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("seconds")
def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


# -- signing in ------------------------------------------------------------------------


@bp.get("/login")
def login_form() -> WerkzeugResponse:
    return _login_page(None, _safe_next(request.args.get("next")), "", 200)


@bp.post("/login")
def login() -> Any:
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    try:
        check_login_csrf()
        with counted_sign_in(email), db(write=True) as session:
            user = authenticate(session, email, password)
            token = issue_token(jwt_secret(), user, settings().jwt_expiry_hours)
    except (UsageError, AuthError, TooManyAttempts) as exc:
        return _login_page(exc.message, target, email, exc.http_status)
    response = redirect(target)
    secure = settings().matf_env == "production" or request.is_secure
    max_age = settings().jwt_expiry_hours * 3600
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="Strict"
    )
    response.set_cookie(
        CSRF_COOKIE,
        new_csrf_token(),
        max_age=max_age,
        httponly=False,
        secure=secure,
        samesite="Strict",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_page(error: str | None, target: str, email: str, status: int) -> WerkzeugResponse:
    """The sign-in form with its CSRF token (a new cookie when the browser has none)."""
    token, cookie = login_form_token()
    html = render_template("login.html", error=error, next=target, email=email, login_csrf=token)
    return set_login_cookie(make_response(html, status), cookie)


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    if request.cookies.get(SESSION_COOKIE):
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.form.get("csrf_token", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            abort(403)
    response = redirect(url_for("dashboard.login_form"))
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


def _safe_next(value: str | None) -> str:
    """Only a local path, else the home page: an open redirect would make sign-in a phishing tool.

    Browsers drop tabs and newlines anywhere in a URL and read a backslash as a
    slash, so ``/<tab>/evil.example`` and ``/\\evil.example`` leave the origin; any
    control character, any backslash, ``//`` at the start, a scheme or a host
    refuses the value. What is kept is therefore also safe in a Location header.
    """
    if not value or not value.startswith("/") or "\\" in value or value.startswith("//"):
        return "/"
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@bp.app_context_processor
def _page_context() -> dict[str, Any]:
    user: Principal | None = g.get("user")
    return {
        "user": user,
        "can_edit": bool(user and user.can("editor")),
        "csrf_token": request.cookies.get(CSRF_COOKIE, ""),
    }


# -- pages -----------------------------------------------------------------------------


@bp.get("/")
@page
def overview() -> str:
    with db() as session:
        runs, total = list_runs(session, limit=10)
        tallies = result_counts(session, [run.id for run in runs])
        points = trend(session, None, 30)
    return render_template(
        "overview.html",
        runs=[_row(run, tallies[run.id]) for run in runs],
        total=total,
        charts=_charts(points),
        browsers=("chromium", "firefox", "webkit"),
        formats=[(f, REPORT_FILES[f], f == ALWAYS_WRITTEN) for f in REPORT_FORMATS],
        types=[(kind, settings().type_enabled(kind)) for kind in KINDS],
        default_types=("functional", "accessibility"),
        max_pages=min(settings().max_pages, 500),
        ai_writer=bool(settings().mistral_api_key),
        sign_in=bool(settings().encryption_key),
    )


@bp.get("/runs")
@page
def runs() -> str:
    statuses = [s for s in request.args.getlist("status") if s in RUN_STATUSES]
    target = request.args.get("target", "").strip()[:300] or None
    offset = _offset()
    with db() as session:
        rows, total = list_runs(session, statuses or None, target, None, None, PAGE_SIZE, offset)
        tallies = result_counts(session, [run.id for run in rows])
    return render_template(
        "runs.html",
        runs=[_row(run, tallies[run.id]) for run in rows],
        total=total,
        statuses=RUN_STATUSES,
        chosen=statuses,
        target=target or "",
        pager=_pager(total, offset),
    )


@bp.get("/runs/<run_id>")
@page
def run(run_id: str) -> str:
    """A run's page: its outcome, then its problems and its passed tests a page at a time.

    A run may hold 10,000 results: only the page shown is read and rendered.
    """
    problems_at, passed_at = _offset(), _offset("passed_offset")
    with db() as session:
        row = get_run(session, run_id)
        state = progress(session, run_id)
        tally = result_counts(session, [run_id])[run_id]
        final = row.status.final
        problems = problems_page(session, run_id, problems_at, RESULTS_PAGE_SIZE) if final else []
        passed = passed_page(session, run_id, passed_at, RESULTS_PAGE_SIZE) if final else []
        causes = _causes(row, tally) if final else None
    return render_template(
        "run.html",
        run=_row(row, tally),
        state=state,
        final=final,
        options=row.options,
        problems=problems,
        passed=passed,
        causes=causes,
        problems_pager=_pager(tally["total"] - tally["passed"], problems_at, RESULTS_PAGE_SIZE),
        passed_pager=_pager(tally["passed"], passed_at, RESULTS_PAGE_SIZE, "passed_offset"),
        shots={r.key: _screenshot(run_id, r) for r in problems},
        diffs={r.key: _visual_images(run_id, r) for r in problems if r.visual},
        reports=[REPORT_FILES[f] for f in row.options.formats],
    )


@bp.get("/suites")
@page
def suites() -> str:
    offset = _offset()
    with db() as session:
        rows, total = list_suites(session, PAGE_SIZE, offset)
        counted = case_counts(session, [s.id for s in rows])
    return render_template("suites.html", suites=rows, counted=counted, pager=_pager(total, offset))


@bp.get("/suites/<suite_id>")
@page
def suite(suite_id: str) -> str:
    with db() as session:
        row = get_suite(session, suite_id)
        cases = suite_cases(session, suite_id)
    return render_template("suite.html", suite=row, cases=cases)


@bp.get("/baselines")
@page
def baselines() -> str:
    with db() as session:
        pending = list_baselines(session, "pending")
        for row in pending:
            session.expunge(row)
    return render_template("baselines.html", pending=pending)


@bp.get("/healing")
@page
def healing() -> str:
    """Healing proposals to review, pending ones by default; ``?run=`` narrows to one run."""
    status = request.args.get("status", "pending")
    if status not in (*HEALING_STATUSES, "all"):
        status = "pending"
    run_id = request.args.get("run", "").strip()[:64] or None
    offset = _offset()
    with db() as session:
        rows, total = list_proposals(
            session, run_id, None if status == "all" else status, PAGE_SIZE, offset
        )
        proposals = [_proposal(row) for row in rows]
    return render_template(
        "healing.html",
        proposals=proposals,
        statuses=(*HEALING_STATUSES, "all"),
        chosen=status,
        run_id=run_id,
        pager=_pager(total, offset),
    )


@bp.get("/system")
@page
def system() -> str:
    return render_template("system.html")


@bp.get("/users")
@page
def users() -> Any:
    """Admins deactivate, activate and delete users here, through the API (CSRF header)."""
    if not g.user.can("admin"):
        return render_template("missing.html", message="Only admins manage users."), 403
    with db() as session:
        rows = session.scalars(select(User).order_by(User.id)).all()
        for row in rows:
            session.expunge(row)
    return render_template("users.html", users=rows)


def _offset(name: str = "offset") -> int:
    """``?offset=`` of a list page: a bad or negative one is 0, a huge one MAX_OFFSET."""
    return min(max(request.args.get(name, 0, type=int) or 0, 0), MAX_OFFSET)


# -- what the pages show ----------------------------------------------------------------


def _causes(run: Run, tally: dict[str, int]) -> dict[str, Any] | None:
    """The run's failures by cause, from its report.json's head (the tests are not read).

    The reporter groups them while writing the report; a run whose report.json
    is gone, or from before groups, shows none.
    """
    head = read_head(report_dir(run) / "report.json")
    if head is None:
        return None
    failures = tally.get("failed", 0) + tally.get("error", 0)
    return prepare_causes(head.get("failure_groups"), failures, RUN_PAGE_CAUSES)


def _row(run: Run, tally: dict[str, int]) -> dict[str, Any]:
    """A run as the templates use it."""
    return {
        "id": run.id,
        "target": run.target,
        "status": run.status.value,
        "phase": run.phase,
        "error": run.error,
        "total": run.total,
        "types": list(run.options.types),
        "browsers": list(run.options.browsers),
        "created_by": run.created_by,
        "created_at": run.created_at,
        "duration_s": run_duration(run),
        "counts": tally,
        "pass_rate": pass_rate(tally),
    }


def _proposal(row: HealingProposal) -> dict[str, Any]:
    """A healing proposal as the healing page shows it; every text in it is untrusted."""
    return {
        **as_dict(row),
        "created_at": row.created_at,
        "decided_at": row.decided_at,
        "changes": [
            {
                "step": change.step + 1,
                "action": change.action,
                "before": describe_locator(change.before),
                "after": describe_locator(change.after),
                "source": "model" if change.source == "ai" else "stored alternative",
            }
            for change in changes_of(row)
        ],
    }


def _screenshot(run_id: str, result: TestResult) -> str | None:
    stored = result.artifacts.screenshot
    if not stored:
        return None
    return url_for("runs.artifact", run_id=run_id, name=Path(stored).name)


def _visual_images(run_id: str, result: TestResult) -> list[dict[str, Any]]:
    """Each visual check with links to its diff and capture (when kept)."""

    def link(stored: str | None) -> str | None:
        return url_for("runs.artifact", run_id=run_id, name=Path(stored).name) if stored else None

    return [
        {"check": check, "diff": link(check.diff), "actual": link(check.actual)}
        for check in result.visual
    ]


def _pager(total: int, offset: int, size: int = PAGE_SIZE, name: str = "offset") -> dict[str, Any]:
    """Previous and next links that keep the page's other query arguments."""
    args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False)}

    def link(at: int) -> str:
        args[name] = at
        return url_for(request.endpoint or "dashboard.runs", **args)

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
        "total": total,
        "prev": link(max(offset - size, 0)) if offset > 0 else None,
        "next": link(offset + size) if offset + size < total else None,
    }


def _charts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pass rate, duration and flaky count of the last runs, as SVG geometry."""
    labels = [f"{p['run'].id} ({p['run'].status})" for p in points]
    pass_rate = [None if p["pass_rate"] is None else p["pass_rate"] * 100 for p in points]
    duration = [run_duration(p["run"]) for p in points]
    flaky = [float(p["flaky"]) for p in points]
    return [
        _chart("Pass rate", "%", pass_rate, labels, top=100.0),
        _chart("Duration", "s", duration, labels),
        _chart("Flaky tests", "", flaky, labels, bars=True),
    ]


def _chart(
    title: str,
    unit: str,
    values: Sequence[float | None],
    labels: list[str],
    top: float | None = None,
    bars: bool = False,
) -> dict[str, Any]:
    """Points in a CHART_W x CHART_H box, oldest on the left; gaps where a run has no value."""
    known = [v for v in values if v is not None]
    high = top if top is not None else max(known, default=0.0)
    high = high or 1.0
    step = (CHART_W - 2 * CHART_PAD) / max(len(values) - 1, 1)
    inner = CHART_H - 2 * CHART_PAD
    marks: list[dict[str, Any]] = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        if value is None:
            continue
        x = CHART_PAD + i * step if len(values) > 1 else CHART_W / 2
        y = CHART_PAD + inner * (1 - value / high)
        shown = f"{value:.0f}%" if unit == "%" else f"{value:.3g}{unit and ' ' + unit}"
        marks.append({"x": round(x, 1), "y": round(y, 1), "tip": f"{label}: {shown}", "v": shown})
    width = max(min(step * 0.6, 24), 3)
    return {
        "title": title,
        "high": f"{high:.3g}{unit if unit == '%' else unit and ' ' + unit}",
        "top": CHART_PAD,
        "width": CHART_W,
        "height": CHART_H,
        "base": CHART_H - CHART_PAD,
        "line": " ".join(f"{m['x']},{m['y']}" for m in marks) if not bars else "",
        "marks": marks,
        "bars": bars,
        "bar_width": round(width, 1),
        "latest": marks[-1]["v"] if marks else None,
        "empty": not marks,
    }
