"""The dashboard's Optimizer page: what the latest analysis found, and the quarantines to review.

Read from the stored analysis (``matf.storage.optimizer``), never recomputed
for a page. Test names, suite ids and failure titles come from the tested
site's history: the template shows them through Jinja's autoescape, and the
script writes only ``textContent``. Editors decide proposals through the API
(``/api/v1/optimizer/quarantine/<id>/accept``), as on the Healing page.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from matf.storage.models import OptimizerAnalysis, QuarantineProposal
from matf.storage.optimizer import as_dict, latest_analysis, list_proposals
from web.dashboard import bp, page
from web.routes.common import db

SHOWN = 20  # rows per list on the page; the API serves them all
PENDING_SHOWN = 100


@bp.get("/optimizer")
@page
def optimizer() -> str:
    with db() as session:
        row = latest_analysis(session)
        analysis = _analysis(row) if row is not None else None
        pending, total = list_proposals(session, "pending", PENDING_SHOWN, 0)
        proposals = [_proposal(p) for p in pending]
    return render_template(
        "optimizer.html", analysis=analysis, proposals=proposals, pending_total=total
    )


def _analysis(row: OptimizerAnalysis) -> dict[str, Any]:
    """The stored analysis as the page shows it: the first ``SHOWN`` of each list."""
    findings = row.findings or {}
    first_failure = [
        {"suite_id": suite_id, **figures}
        for suite_id, figures in sorted((findings.get("first_failure") or {}).items())
        if figures.get("runs")
    ]
    return {
        "id": row.id,
        "created_at": row.created_at,
        "days": row.days,
        "threshold": row.threshold,
        "seconds": row.seconds,
        "summary": row.summary or {},
        "window": findings.get("window") or {},
        "flakiest": (findings.get("flakiest") or [])[:SHOWN],
        "slowest": (findings.get("slowest") or [])[:SHOWN],
        "clusters": (findings.get("clusters") or [])[:SHOWN],
        "first_failure": first_failure,
    }


def _proposal(row: QuarantineProposal) -> dict[str, Any]:
    return {**as_dict(row), "created_at": row.created_at}
