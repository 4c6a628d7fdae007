"""What earlier versions stored still loads: saved suites, and runs' options (migration 0006)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from matf.options import (
    AiOptions,
    HealingOptions,
    Limits,
    NetworkOptions,
    RenderingOptions,
    RunOptions,
)
from matf.spec import load_suite
from matf.storage.models import Run
from tests.migrating import migrate_to

DATA = Path(__file__).resolve().parents[1] / "data"

LLM = {"model": "m", "calls": 6, "prompt_tokens": 9_000, "completion_tokens": 900}
HEALING = {"tests": 1, "proposals": 1, "passed": 1, "calls": 1}
# Runs as revision 0005 stored them: what `matf run` and the API wrote.
OLD = {
    "cli": {
        "types": ["functional", "visual"],
        "browsers": ["chromium", "firefox"],
        "max_pages": 5,
        "out_dir": "/srv/reports/a",
        "mode": "embedded",
        "device": "Pixel 7",
        "video": True,
        "budgets": {"lcp_ms": 3000, "cls": None},
        "visual_masks": ["#clock"],
        "baseline_set": "shop",
        "viewports": [[390, 844]],
        "ai": {"enabled": True, "goals": ["a visitor subscribes"], "max_calls": 3},
        "suite_file": "/s/suite.json",
        "heal": False,
        "llm": LLM,
        "healing": HEALING,
    },
    "api": {
        "types": ["functional"],
        "browsers": ["chromium"],
        "max_pages": 25,
        "mode": "distributed",
        "network": {"guarded": True, "allowed": ["10.0.0.0/8", "intranet.example"]},
        "quarantined": ["flaky-one"],
        "ai": {"enabled": False},
        "out_dir": "/data/storage/reports/b",
    },
    "bare": {},
}
NEW = {
    "cli": RunOptions(
        types=("functional", "visual"),
        browsers=("chromium", "firefox"),
        limits=Limits(max_pages=5),
        rendering=RenderingOptions(
            device="Pixel 7",
            video=True,
            masks=("#clock",),
            viewports=((390, 844),),
            baseline_set="shop",
        ),
        budgets={"lcp_ms": 3000, "cls": None},
        ai=AiOptions(goals=("a visitor subscribes",), max_calls=3),
        healing=HealingOptions(enabled=False),
        out_dir="/srv/reports/a",
        suite_file="/s/suite.json",
    ),  # fmt: skip
    "api": RunOptions(
        types=("functional",),
        limits=Limits(max_pages=25),
        network=NetworkOptions(guarded=True, allowed=("10.0.0.0/8", "intranet.example")),
        quarantined=("flaky-one",),
        ai=AiOptions(enabled=False),
        out_dir="/data/storage/reports/b",
    ),
    "bare": RunOptions(),
}


@pytest.fixture
def old_database(tmp_path: Path) -> Engine:
    """A database at revision 0005 holding runs with the options it knew."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate_to(engine, "0005")
    with engine.begin() as conn:
        for name, options in OLD.items():
            conn.execute(
                text(
                    "INSERT INTO runs (id, target, status, phase, options, total, created_at) "
                    "VALUES (:id, 'http://shop.test/', 'passed', 'done', :options, 0, "
                    "'2026-12-01 10:00:00')"
                ),
                {"id": name, "options": json.dumps(options)},
            )
    return engine


def _runs(engine: Engine) -> dict[str, Run]:
    with Session(engine, expire_on_commit=False) as session:
        return {run.id: run for run in session.query(Run)}


def test_an_old_runs_options_load_as_run_options_after_the_migration(old_database: Engine) -> None:
    migrate_to(old_database, "head")
    runs = _runs(old_database)
    assert {name: run.options for name, run in runs.items()} == NEW
    # What the run produced left the options for columns of its own
    assert (runs["cli"].llm_usage, runs["cli"].healing_usage) == (LLM, HEALING)
    assert (runs["api"].llm_usage, runs["api"].healing_usage) == (None, None)
    assert all(run.status.final for run in runs.values())


def test_the_migration_goes_back_to_the_old_shape(old_database: Engine) -> None:
    migrate_to(old_database, "head")
    migrate_to(old_database, "0005", down=True)
    with old_database.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, options FROM runs")).all())
    back: dict[str, Any] = {name: json.loads(options) for name, options in rows.items()}
    # Everything but what no reader used ("mode") comes back as it was.
    assert back == {
        name: {k: v for k, v in old.items() if k != "mode"} for name, old in OLD.items()
    }


def test_a_suite_saved_before_run_options_still_loads() -> None:
    # Written by `matf write --types functional,accessibility,performance,visual,api`
    # before this version, against the demo shop.
    path = DATA / "suite-written-before-run-options.json"
    suite = load_suite(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert [spec.id for spec in suite.tests] == [test["id"] for test in raw["tests"]]
    assert {spec.kind for spec in suite.tests} == {
        "functional", "accessibility", "performance", "visual", "api",
    }  # fmt: skip
    assert json.loads(suite.model_dump_json(exclude_none=True)) == raw


def test_a_run_stored_before_report_formats_reads_back_writing_every_report(
    tmp_path: Path,
) -> None:
    # Given a run whose options were stored before they had ``formats`` (as `matf run` wrote them)
    stored = json.loads((DATA / "run-options-before-formats.json").read_text(encoding="utf-8"))
    assert "formats" not in stored
    engine = create_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    migrate_to(engine, "head")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, target, status, phase, options, total, created_at) "
                "VALUES ('before', 'http://shop.test/', 'passed', 'done', :options, 0, "
                "'2026-12-01 10:00:00')"
            ),
            {"options": json.dumps(stored)},
        )
    # When it is read back
    options = _runs(engine)["before"].options
    # Then it writes every report, as runs did then, and keeps everything else it said
    assert options.formats == ("html", "json", "junit", "pdf")
    assert all(options.writes(name) for name in ("report.html", "junit.xml", "report.pdf"))
    newer = ("formats", "login")  # options added since, at their defaults
    assert {k: v for k, v in options.to_json().items() if k not in newer} == stored
    assert not options.login.enabled
