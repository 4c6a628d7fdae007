"""The tables. The database, not Redis, is the source of truth for a run."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from matf.options import RunOptions
from matf.results import RunStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC, read back with its zone from every database.

    SQLite stores ``DateTime(timezone=True)`` without the zone and hands naive
    values back; PostgreSQL keeps it. Values are stored in UTC and come back
    aware, so no reader has to guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class RunStatusType(TypeDecorator[RunStatus]):
    """A run's status, stored as its name and read back as a ``RunStatus``."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: RunStatus | str | None, dialect: Dialect) -> str | None:
        return None if value is None else RunStatus(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> RunStatus | None:
        return None if value is None else RunStatus(value)


class RunOptionsType(TypeDecorator[RunOptions]):
    """A run's ``RunOptions``, stored as their JSON and validated once when read."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: RunOptions | None, dialect: Dialect) -> Any:
        return None if value is None else value.to_json()

    def process_result_value(self, value: Any, dialect: Dialect) -> RunOptions | None:
        return None if value is None else RunOptions.model_validate(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Target(Base):
    """A site under test, by origin: what context.prepare learned of it."""

    __tablename__ = "targets"

    origin: Mapped[str] = mapped_column(String(300), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    site_map: Mapped[list[Any]] = mapped_column(default=list)
    last_status: Mapped[int | None] = mapped_column(Integer)
    budgets: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(Text)
    status: Mapped[RunStatus] = mapped_column(RunStatusType(), index=True)
    phase: Mapped[str] = mapped_column(String(16), default="queued")
    options: Mapped[RunOptions] = mapped_column(RunOptionsType(), default=RunOptions)
    # What the run produced beyond results: the AI writer's and the healer's model usage.
    llm_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    healing_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What exploring the site did: pages read and not, templates sampled, tests dropped.
    exploration: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    suite_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str | None] = mapped_column(String(300))
    # The embedded process running it ("host:pid:start"); None: the cluster's supervisor's.
    driver: Mapped[str | None] = mapped_column(String(200))


class TestCase(Base):
    """A spec written for (or given to) a run."""

    __test__ = False  # not a pytest test class, whatever its name

    __tablename__ = "test_cases"
    __table_args__ = (UniqueConstraint("run_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column()


class TestResultRow(Base):
    """The final outcome of one (run, case, browser); written once, whatever re-deliveries."""

    __test__ = False  # not a pytest test class, whatever its name

    __tablename__ = "test_results"
    __table_args__ = (UniqueConstraint("run_id", "case_id", "browser"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AttemptRow(Base):
    """One attempt of one (run, case, browser): the history the optimizer learns from."""

    __tablename__ = "test_attempts"
    __table_args__ = (UniqueConstraint("run_id", "case_id", "browser", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """A structured event from an agent; ``key`` makes a re-delivered event a no-op."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    agent: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


def new_uid() -> str:
    """A user's public id: 128 random bits, so no two users ever share one."""
    return secrets.token_hex(16)


class User(Base):
    """A person who signs in to the API and dashboard.

    Session tokens name the user by ``uid``, never by ``id``, and carry
    ``token_version``: deleting a user and making another can never hand the
    newcomer the old tokens, and bumping the version (deactivation, a new
    password, a new role) ends every session at once. SQLite's AUTOINCREMENT
    keeps ``id`` from being reused too, so an admin's stale link never lands
    on someone else.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")  # viewer|editor|admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiKey(Base):
    """A machine credential: only its hash is stored; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Suite(Base):
    """A saved set of test specs that users own, edit and run again."""

    __tablename__ = "suites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SuiteCase(Base):
    """One spec of a suite; disabled cases do not run, quarantined ones run but do not fail it."""

    __tablename__ = "suite_cases"
    __table_args__ = (UniqueConstraint("suite_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suite_id: Mapped[str] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TargetSecret(Base):
    """A credential for a target site, encrypted (AES-256-GCM) under a key id."""

    __tablename__ = "target_secrets"
    __table_args__ = (UniqueConstraint("origin", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(300), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SessionState(Base):
    """A cached sign-in: the browser's storage state for (origin, role), sealed (AES-256-GCM).

    ``role`` is "" for the default ``login`` secret. The clear state (cookies,
    local storage) is never stored; ``sign_ins`` counts how often MATF signed
    in for this pair, which the tests and the report read.
    """

    __tablename__ = "session_states"
    __table_args__ = (UniqueConstraint("origin", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(100), default="")
    key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sign_ins: Mapped[int] = mapped_column(Integer, default=0)


class Baseline(Base):
    """One screenshot a visual check compares against, or a candidate to replace it.

    ``status``: approved (the one compared against; at most one per key),
    pending (a changed capture awaiting review), rejected, superseded.
    Images are files under the baselines root; paths here are relative to it.
    """

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("key", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    image: Mapped[str] = mapped_column(Text)
    diff: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    ratio: Mapped[float | None] = mapped_column(Float)
    case_id: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(300))


class LlmAnswer(Base):
    """A checked model answer for one page, so an unchanged site costs no call.

    ``key`` hashes (page fingerprint, model, prompt version, goals): a change
    to any of them asks again. ``tests`` holds the specs that passed the checks.
    """

    __tablename__ = "llm_answers"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    tests: Mapped[list[Any]] = mapped_column(default=list)
    dropped: Mapped[list[Any]] = mapped_column(default=list)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class HealingProposal(Base):
    """A new locator the healer proposes for a test, waiting for a person's decision.

    ``changes`` lists each step's old and new target; ``spec`` is the test as
    healed. Accepting applies the changes to the saved suite the run came from
    (``suite_id``), or to its suite file from the command line (``suite_file``).
    """

    __tablename__ = "healing_proposals"
    __table_args__ = (UniqueConstraint("run_id", "case_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(16))
    suite_id: Mapped[str | None] = mapped_column(String(64))
    suite_file: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))  # the re-run: passed | failed
    changes: Mapped[list[Any]] = mapped_column(default=list)
    spec: Mapped[dict[str, Any]] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    applied_to: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(300))


class ScheduledJob(Base):
    """One job of the schedule (optimizer, backup, retention): its last run and who holds it.

    The row is the lock that keeps two beats (or two ``matf serve`` processes)
    from doubling a job: a run starts only by claiming the row in one UPDATE
    (``matf/storage/schedule.py``).
    """

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval_s: Mapped[float] = mapped_column(Float)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # sends another holder had taken
    last_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed
    last_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counters, all runs
    holder: Mapped[str | None] = mapped_column(String(200))
    held_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OptimizerAnalysis(Base):
    """One run of the optimizer over the history: what it found, and when.

    ``summary`` holds the counts the API and the metrics show; ``findings``
    the lists (flakiest, stable failures, clusters, slowest, quarantine
    candidates); ``orders`` each saved suite's proposed run order, read at
    dispatch apart from the rest (``matf.storage.optimizer.suite_order``).
    """

    __tablename__ = "optimizer_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    days: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    summary: Mapped[dict[str, Any]] = mapped_column()
    findings: Mapped[dict[str, Any]] = mapped_column()
    orders: Mapped[dict[str, Any]] = mapped_column(default=dict)


class QuarantineProposal(Base):
    """A test the optimizer found flaky enough to quarantine, waiting for a person's decision.

    ``pending_key`` ("suite|case|browser") is set only while the proposal is
    pending: its unique constraint keeps one pending proposal per test, on
    SQLite and PostgreSQL alike (both let a unique column hold many NULLs).
    Accepting one quarantines the case in its saved suite (``applied_to``).
    """

    __tablename__ = "quarantine_proposals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(16))
    suite_id: Mapped[str | None] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    pending_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    analysis_id: Mapped[int | None] = mapped_column(Integer)
    applied_to: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(300))
