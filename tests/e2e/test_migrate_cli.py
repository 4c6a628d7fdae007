"""``matf migrate``: the compose stack's first step, run as a user (or a container) runs it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from matf.storage.db import head_revision
from tests.conftest import run_matf

ROOT = Path(__file__).resolve().parents[2]


def _revision(database: Path) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_migrate_brings_a_new_database_to_the_newest_schema_and_is_safe_to_run_again(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "framework.db"
    url = f"sqlite:///{database}"

    first = run_matf(["migrate"], tmp_path, DATABASE_URL=url)
    again = run_matf(["migrate"], tmp_path, DATABASE_URL=url)

    assert first.returncode == 0, first.stderr
    assert _revision(database) == head_revision()
    assert first.stdout.strip() == f"{url}: schema {head_revision()} (newest {head_revision()})"
    assert again.returncode == 0 and again.stdout == first.stdout


def test_migrate_refuses_the_example_env_file_in_production_before_touching_the_database(
    tmp_path: Path,
) -> None:
    # Given the committed .env.example copied as the deployment's .env, unchanged
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"))
    database = tmp_path / "framework.db"

    refused = run_matf(["migrate"], tmp_path, DATABASE_URL=f"sqlite:///{database}")

    assert refused.returncode == 2
    assert refused.stderr.startswith("matf: error: JWT_SECRET is a placeholder value")
    assert "change-me" not in refused.stderr  # names the variable, never its value
    assert not database.exists()
