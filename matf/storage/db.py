"""The engine, its sessions, and Alembic migrations applied on first use.

SQLite runs in WAL mode with a busy timeout and foreign keys on; write
transactions begin IMMEDIATE so two writers queue at BEGIN instead of failing
mid-transaction. WAL works on one host only, which is why executors never
write. PostgreSQL works through the same URL setting.
"""

from __future__ import annotations

import fcntl
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from matf.errors import ConfigError, EnvironmentProblem

# How domain steps open short transactions: ``sessions(write)`` is a session scope.
Sessions = Callable[[bool], AbstractContextManager[Session]]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """A new engine for ``url``, migrated to the latest schema."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid DATABASE_URL: {url!r}") from exc
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    migrate(engine, path)
    return engine


def get_engine(url: str) -> Engine:
    """The process's engine for ``url``, created and migrated on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Forget inherited connections after a fork (they belong to the parent)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)


def migrations_dir() -> Path:
    return Path(str(resources.files("migrations")))


def head_revision() -> str | None:
    """The newest migration's revision, read from its file; None if it cannot be told.

    Migrations are numbered files (``0009_run_exploration.py``, revision
    "0009"), each revising the one before: the last file is the head. A test
    checks this against Alembic's own reading of the whole chain.
    """
    files = sorted(migrations_dir().glob("versions/[0-9]*.py"))
    if not files:
        return None
    found = _REVISION.search(files[-1].read_text(encoding="utf-8"))
    return found.group(1) if found else None


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision; None when it has none yet (or cannot be read)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):  # no table yet (SQLite says Operational,
        return None  # PostgreSQL UndefinedTable), or no database: migrate() tells which
    return None if row is None else str(row[0])


def migrate(engine: Engine, sqlite_path: Path | None = None) -> None:
    """Bring the schema to head; processes starting together take turns.

    A database already at head costs one query: Alembic (a quarter of a
    second to import and read every migration) is loaded only to upgrade.
    """
    head = head_revision()
    if head is not None and current_revision(engine) == head:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    try:
        with _migration_lock(engine, sqlite_path), engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise EnvironmentProblem(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig or exc}"
        ) from exc


@contextmanager
def _migration_lock(engine: Engine, sqlite_path: Path | None) -> Iterator[None]:
    if sqlite_path is not None:
        with open(f"{sqlite_path}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7114)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7114)"))
                conn.commit()
    else:
        yield


@contextmanager
def session_scope(engine: Engine, write: bool = False) -> Iterator[Session]:
    """A short transaction: committed on success, rolled back on error."""
    bind = engine.execution_options(immediate=True) if write else engine
    with Session(bind=bind, expire_on_commit=False) as session, session.begin():
        yield session


def sessions_for(engine: Engine) -> Sessions:
    """``session_scope`` bound to ``engine``: what steps that open their own transactions take."""
    return partial(session_scope, engine)
