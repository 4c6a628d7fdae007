"""run options as one typed object; model usage in its own columns

Before this revision a run's ``options`` was a flat dict that also held what
the run produced (``llm``, ``healing``). Now it is ``RunOptions`` as JSON
(nested: limits, rendering, ai, healing, network) and the usage figures have
columns of their own. Each existing run is carried over here; keys that were
written but never read (``mode``) are dropped.

This migration spells the old shape out on its own instead of importing the
application's models, so that it keeps meaning what it meant when they change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

runs = sa.table(
    "runs",
    sa.column("id", sa.String),
    sa.column("options", sa.JSON),
    sa.column("llm_usage", sa.JSON),
    sa.column("healing_usage", sa.JSON),
)

_RENDERING = {
    "device": "device",
    "video": "video",
    "visual_masks": "masks",
    "viewports": "viewports",
    "baseline_set": "baseline_set",
}


def typed(old: dict[str, Any]) -> dict[str, Any]:
    """The ``RunOptions`` JSON of a run stored with the flat options of revision 0005."""
    new: dict[str, Any] = {}
    for key in ("types", "browsers", "quarantined"):
        if old.get(key):
            new[key] = list(old[key])
    if old.get("max_pages") is not None:
        new["limits"] = {"max_pages": int(old["max_pages"])}
    rendering = {
        name: old[key] for key, name in _RENDERING.items() if old.get(key) not in (None, [], False)
    }
    if rendering:
        new["rendering"] = rendering
    if old.get("budgets"):
        new["budgets"] = dict(old["budgets"])
    ai = {k: v for k, v in (old.get("ai") or {}).items() if v not in (None, [])}
    if ai:
        new["ai"] = ai
    if old.get("heal") is False:
        new["healing"] = {"enabled": False}
    network = old.get("network") or {}
    if network.get("guarded"):
        new["network"] = {"guarded": True, "allowed": list(network.get("allowed") or [])}
    for key in ("out_dir", "suite_file"):
        if old.get(key):
            new[key] = str(old[key])
    return new


def flat(new: dict[str, Any]) -> dict[str, Any]:
    """Revision 0005's flat options of a run stored as ``RunOptions`` (for a downgrade)."""
    old: dict[str, Any] = {k: new[k] for k in ("types", "browsers", "quarantined") if k in new}
    if "limits" in new:
        old["max_pages"] = new["limits"].get("max_pages")
    for key, name in _RENDERING.items():
        if (new.get("rendering") or {}).get(name) not in (None, [], (), False):
            old[key] = new["rendering"][name]
    for key in ("budgets", "ai", "network", "out_dir", "suite_file"):
        if new.get(key):
            old[key] = new[key]
    if (new.get("healing") or {}).get("enabled") is False:
        old["heal"] = False
    return old


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("llm_usage", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("healing_usage", sa.JSON(), nullable=True))
    bind = op.get_bind()
    for run_id, options in bind.execute(sa.select(runs.c.id, runs.c.options)).all():
        old = dict(options or {})
        bind.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(options=typed(old), llm_usage=old.get("llm"), healing_usage=old.get("healing"))
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(runs.c.id, runs.c.options, runs.c.llm_usage, runs.c.healing_usage)
    ).all()
    for run_id, options, llm, healing in rows:
        old = flat(dict(options or {}))
        if llm:
            old["llm"] = llm
        if healing:
            old["healing"] = healing
        bind.execute(runs.update().where(runs.c.id == run_id).values(options=old))
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("healing_usage")
        batch.drop_column("llm_usage")
