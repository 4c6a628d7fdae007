"""Storage: migrations build the schema, writes are idempotent, history is readable."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, inspect, select, text

from matf.agents.logger import event_key, make_event, persist
from matf.agents.optimizer import flaky_tests
from matf.agents.reporter import LOST, build_document, store_results
from matf.options import RunOptions
from matf.results import TestResult
from matf.spec import parse_spec
from matf.storage import models
from matf.storage.db import get_engine, make_engine, session_scope
from matf.storage.runs import create_run, save_cases


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _spec(case_id: str):  # type: ignore[no-untyped-def]
    return parse_spec(
        {
            "id": case_id,
            "name": case_id,
            "url": "http://127.0.0.1/",
            "steps": [{"action": "goto", "url": "/"}],
        }
    )


def _result(run_id: str, case_id: str, status: str, attempts: int = 1) -> dict[str, object]:
    return TestResult(
        run_id=run_id,
        case_id=case_id,
        name=case_id,
        kind="functional",
        category="custom",
        browser="chromium",
        status=status,  # type: ignore[arg-type]
        url="http://127.0.0.1/",
        attempts=attempts,
        attempt_errors=["boom"] * (attempts - 1),
        error="boom" if status == "failed" else None,
    ).model_dump(mode="json")


def test_migrations_build_the_schema_in_wal_mode(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    tables = set(inspect(engine).get_table_names())
    assert {
        "runs",
        "test_cases",
        "test_results",
        "test_attempts",
        "events",
        "targets",
        "alembic_version",
    } <= tables
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")  # a second start migrates nothing twice


def test_the_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    # A model changed without a migration (or the reverse) shows up here, not in production.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from matf.storage.models import Base

    engine = _engine(tmp_path)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    # The fast path of migrate() trusts the last numbered file to be the head.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from matf.storage.db import head_revision, migrations_dir

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_behind_head_is_upgraded_and_one_at_head_is_left_alone(tmp_path: Path) -> None:
    from matf.storage.db import current_revision, head_revision
    from tests.migrating import migrate_to

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = _engine(tmp_path)
    migrate_to(engine, "0008", down=True)  # as an older MATF left it
    assert current_revision(engine) == "0008"
    assert "exploration" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    # When MATF starts on it, it migrates to head
    upgraded = make_engine(url)
    assert current_revision(upgraded) == head_revision()
    assert "exploration" in {c["name"] for c in inspect(upgraded).get_columns("runs")}


def _run_with_cases(engine, cases: list[str]) -> str:  # type: ignore[no-untyped-def]
    with session_scope(engine, write=True) as session:
        run = create_run(session, "http://127.0.0.1/", RunOptions(browsers=("chromium",)))
        save_cases(session, run.id, [_spec(c) for c in cases])
        return run.id


def test_the_reporter_is_safe_to_run_twice_and_with_duplicates(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    run_id = _run_with_cases(engine, ["a", "b", "c"])
    results = [
        _result(run_id, "a", "passed"),
        _result(run_id, "a", "passed"),
        _result(run_id, "b", "flaky", attempts=2),
    ]
    for _ in range(2):
        with session_scope(engine, write=True) as session:
            store_results(session, run_id, results)
    with session_scope(engine) as session:
        document = build_document(session, run_id)
        attempts = session.scalar(select(func.count()).select_from(models.AttemptRow))
    by_case = {t.case_id: t for t in document.tests}
    assert sorted(by_case) == ["a", "b", "c"]
    assert by_case["c"].status == "error" and by_case["c"].error == LOST  # never arrived
    assert document.run.counts.model_dump() == {
        "total": 3,
        "passed": 1,
        "failed": 0,
        "flaky": 1,
        "error": 1,
        "skipped": 0,
    }
    assert document.run.status == "failed"
    assert attempts == 1 + 2  # a: one attempt, b: two, c: none


def test_events_are_stored_once_per_key(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    key = event_key("test_finished", "r1", "a", "chromium")
    event = make_event("test_finished", "executor", "r1", key=key, status="passed")
    with session_scope(engine, write=True) as session:
        assert isinstance(persist(session, event), int)
        assert persist(session, dict(event)) is None
        assert session.scalar(select(func.count()).select_from(models.Event)) == 1


def test_the_optimizer_finds_tests_that_failed_then_passed(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    for statuses in (("passed", "flaky"), ("flaky", "failed")):
        run_id = _run_with_cases(engine, ["steady", "shaky"])
        with session_scope(engine, write=True) as session:
            store_results(
                session,
                run_id,
                [
                    _result(run_id, "steady", statuses[0], 2 if statuses[0] == "flaky" else 1),
                    _result(run_id, "shaky", statuses[1], 3 if statuses[1] == "failed" else 2),
                ],
            )
    with session_scope(engine) as session:
        found = {f.case_id: f for f in flaky_tests(session)}
    assert found["shaky"].runs == 2 and found["shaky"].flaky_runs == 1
    assert found["steady"].flaky_runs == 1
    assert found["shaky"].rate == 0.5
