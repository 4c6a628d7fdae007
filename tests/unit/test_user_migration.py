"""Migration 0008: users get uids and token versions, keep their keys; SQLite reuses no id."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from matf.auth import create_user, issue_token, user_principal
from matf.errors import AuthError
from matf.storage.db import make_engine, session_scope
from matf.storage.models import Base, User
from tests.migrating import migrate_to
from tests.services import PostgresServer

OLD_USERS = [
    (1, "first@example.com", "admin"),
    (2, "second@example.com", "editor"),
    (3, "third@example.com", "viewer"),
]


@pytest.fixture
def old_database(tmp_path: Path) -> Engine:
    """A database at revision 0007 with three users, two of them owning API keys.

    Opened as MATF opens it (foreign keys on), then taken back to 0007.
    """
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate_to(engine, "0007", down=True)
    with engine.begin() as conn:
        for user_id, email, role in OLD_USERS:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, name, password_hash, role, active, created_at)"
                    " VALUES (:id, :email, '', 'x', :role, 1, '2026-12-01 10:00:00')"
                ),
                {"id": user_id, "email": email, "role": role},
            )
        for key_id, owner in ((1, 1), (2, 3), (3, None)):
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, name, prefix, key_hash, role, owner_id, created_at)"
                    " VALUES (:id, 'k', :prefix, 'h', 'viewer', :owner, '2026-12-01 10:00:00')"
                ),
                {"id": key_id, "prefix": f"matf_{key_id}", "owner": owner},
            )
    return engine


def test_existing_users_get_distinct_uids_and_keep_their_keys(old_database: Engine) -> None:
    migrate_to(old_database, "head")
    with old_database.connect() as conn:
        users = conn.execute(text("SELECT id, email, uid, token_version FROM users")).all()
        owners = dict(conn.execute(text("SELECT id, owner_id FROM api_keys")).all())
    assert [(u.id, u.email) for u in users] == [(i, e) for i, e, _ in OLD_USERS]
    uids = [u.uid for u in users]
    assert len(set(uids)) == 3 and all(len(uid) == 32 for uid in uids)
    assert {u.token_version for u in users} == {0}
    # The table rebuild drops the old table, which with foreign keys on sets owners to NULL
    assert owners == {1: 1, 2: 3, 3: None}


def test_after_the_migration_a_deleted_users_id_is_never_given_again(
    old_database: Engine,
) -> None:
    migrate_to(old_database, "head")
    # Given the newest user signed in, then deleted
    with session_scope(old_database, write=True) as session:
        newest = session.get(User, 3)
        assert newest is not None
        claims = {"sub": newest.uid, "tv": newest.token_version}
        session.delete(newest)
    # When another user is made
    with session_scope(old_database, write=True) as session:
        newcomer = create_user(session, "fourth@example.com", "a long enough password")
    # Then they get a new id and uid, and the deleted user's claims name nobody
    assert newcomer.id == 4 and newcomer.uid != claims["sub"]
    with session_scope(old_database) as session, pytest.raises(AuthError, match="sign in"):
        user_principal(session, claims)


def test_a_token_made_before_the_migration_is_refused(old_database: Engine) -> None:
    # An older version's token: sub is the integer id, and there is no version
    migrate_to(old_database, "head")
    with session_scope(old_database) as session:
        user = session.get(User, 1)
        assert user is not None
        fresh = {"sub": user.uid, "tv": user.token_version}
        assert user_principal(session, fresh).name == "first@example.com"
        with pytest.raises(AuthError):
            user_principal(session, {"sub": "1"})
    assert issue_token("s" * 64, user)  # and a token of the new kind can be made for them


def test_the_migration_goes_back_to_the_old_shape(old_database: Engine) -> None:
    migrate_to(old_database, "head")
    migrate_to(old_database, "0007", down=True)
    with old_database.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(users)"))}
        users = conn.execute(text("SELECT id, email, role FROM users")).all()
        owners = dict(conn.execute(text("SELECT id, owner_id FROM api_keys")).all())
    assert "uid" not in columns and "token_version" not in columns
    assert [tuple(u) for u in users] == OLD_USERS
    assert owners == {1: 1, 2: 3, 3: None}


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL on a Unix socket in a fresh folder; skipped without one or a driver."""
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (pip install 'psycopg[binary]')")
    folder = Path(tempfile.mkdtemp(prefix="matf-pg-"))
    try:
        server = PostgresServer(folder)
    except FileNotFoundError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_migration_on_postgresql(postgres_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(postgres_url)
    migrate_to(engine, "0007")
    with engine.begin() as conn:
        for _id, email, role in OLD_USERS:
            conn.execute(
                text(
                    "INSERT INTO users (email, name, password_hash, role, active, created_at)"
                    " VALUES (:email, '', 'x', :role, true, now())"
                ),
                {"email": email, "role": role},
            )
        conn.execute(
            text(
                "INSERT INTO api_keys (name, prefix, key_hash, role, owner_id, created_at)"
                " VALUES ('k', 'matf_1', 'h', 'viewer', 3, now())"
            )
        )
    migrate_to(engine, "head")
    with engine.connect() as conn:
        users = conn.execute(text("SELECT id, uid, token_version FROM users ORDER BY id")).all()
        owner = conn.execute(text("SELECT owner_id FROM api_keys")).scalar()
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert [u.id for u in users] == [1, 2, 3] and owner == 3
    assert len({u.uid for u in users}) == 3 and {u.token_version for u in users} == {0}
    # A deleted user's id and uid are not given again
    with session_scope(engine, write=True) as session:
        session.delete(session.get(User, 3))
    with session_scope(engine, write=True) as session:
        assert create_user(session, "fourth@example.com", "a long enough password").id == 4
    migrate_to(engine, "0007", down=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 3
    engine.dispose()
