"""runs record what exploring the site did

Pages read and not (with why), URL templates sampled, tests written but
dropped as invalid (with why): shown in the run's reports. Runs before this
revision have none (NULL), and their reports leave the section out.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("exploration", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("exploration")
