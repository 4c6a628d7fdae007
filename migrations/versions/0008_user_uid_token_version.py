"""users get a public uid and a token version; SQLite never reuses their ids

Tokens named users by their integer id, which SQLite reuses (a rowid table
without AUTOINCREMENT): delete a user, make another, and the old tokens were
the newcomer's. Tokens now carry ``uid`` (random, unique) and
``token_version``. Existing users get a uid here; their old tokens, which have
neither claim, are refused and they sign in again.

On SQLite the table is rebuilt to turn AUTOINCREMENT on. The rebuild drops
the old table, and with foreign keys on (as MATF opens every database) the
drop sets ``api_keys.owner_id`` to NULL: the owners are read before and
written back after, in the same transaction.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_USERS = sa.table("users", sa.column("id", sa.Integer), sa.column("uid", sa.String))
_KEYS = sa.table("api_keys", sa.column("id", sa.Integer), sa.column("owner_id", sa.Integer))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
        )
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.select(_USERS.c.id)).all():
        bind.execute(
            _USERS.update().where(_USERS.c.id == user_id).values(uid=secrets.token_hex(16))
        )
    with _rebuilt_users(autoincrement=True) as batch:
        batch.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(batch.f("uq_users_uid"), ["uid"])


def downgrade() -> None:
    with _rebuilt_users(autoincrement=False) as batch:
        batch.drop_constraint(batch.f("uq_users_uid"), type_="unique")
        batch.drop_column("token_version")
        batch.drop_column("uid")


@contextmanager
def _rebuilt_users(autoincrement: bool) -> Iterator[BatchOperations]:
    """``users`` altered in batch; on SQLite, rebuilt with or without AUTOINCREMENT."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    owners = bind.execute(sa.select(_KEYS.c.id, _KEYS.c.owner_id)).all() if sqlite else []
    with op.batch_alter_table(
        "users",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ) as batch:
        yield batch
    for key_id, owner_id in owners:
        bind.execute(_KEYS.update().where(_KEYS.c.id == key_id).values(owner_id=owner_id))
