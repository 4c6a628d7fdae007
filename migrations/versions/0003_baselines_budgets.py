"""visual baselines, per-target performance budgets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("browser", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
        sa.UniqueConstraint("key", "run_id", name=op.f("uq_baselines_key")),
    )
    op.create_index(op.f("ix_baselines_key"), "baselines", ["key"], unique=False)
    op.create_index(op.f("ix_baselines_status"), "baselines", ["status"], unique=False)
    op.create_index(op.f("ix_baselines_run_id"), "baselines", ["run_id"], unique=False)
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("budgets", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("budgets")
    op.drop_index(op.f("ix_baselines_run_id"), table_name="baselines")
    op.drop_index(op.f("ix_baselines_status"), table_name="baselines")
    op.drop_index(op.f("ix_baselines_key"), table_name="baselines")
    op.drop_table("baselines")
