"""who drives a run: an embedded process, or the cluster

An embedded run lives in the process that started it; when that process dies
the run can only be ended, by any other MATF process on the same host that
sees the driver gone. A run of the cluster (distributed mode) has no driver:
the run supervisor on beat looks after it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("driver", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("driver")
