"""``matf migrate``: the compose stack's first step, run as a user (or a container) runs it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from matf.storage.db import head_revision
from tests.conftest import run_matf, subprocess_env

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


def test_a_worker_refuses_the_example_env_file_in_production_in_one_line(tmp_path: Path) -> None:
    # Given the example's placeholders in production, a worker pool starting (as in k8s, where
    # no migrate step stops the stack first)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"))
    env = subprocess_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    env.pop("MATF_ENV", None)  # the .env file's MATF_ENV=production is the one in force
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", "logger"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Then it stops before connecting to anything, naming the variable, never its value
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "matf: JWT_SECRET is a placeholder value: set a random secret"
    ]
