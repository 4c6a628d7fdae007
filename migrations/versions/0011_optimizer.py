"""the optimizer's stored analyses and its quarantine proposals to review

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "optimizer_analyses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("orders", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimizer_analyses")),
    )
    op.create_index(
        op.f("ix_optimizer_analyses_created_at"),
        "optimizer_analyses",
        ["created_at"],
        unique=False,
    )
    op.create_table(
        "quarantine_proposals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("browser", sa.String(length=16), nullable=False),
        sa.Column("suite_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pending_key", sa.String(length=400), nullable=True),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("applied_to", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_proposals")),
        sa.UniqueConstraint("pending_key", name=op.f("uq_quarantine_proposals_pending_key")),
    )
    op.create_index(
        op.f("ix_quarantine_proposals_status"), "quarantine_proposals", ["status"], unique=False
    )
    op.create_index(
        op.f("ix_quarantine_proposals_suite_id"),
        "quarantine_proposals",
        ["suite_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_quarantine_proposals_suite_id"), table_name="quarantine_proposals")
    op.drop_index(op.f("ix_quarantine_proposals_status"), table_name="quarantine_proposals")
    op.drop_table("quarantine_proposals")
    op.drop_index(op.f("ix_optimizer_analyses_created_at"), table_name="optimizer_analyses")
    op.drop_table("optimizer_analyses")
