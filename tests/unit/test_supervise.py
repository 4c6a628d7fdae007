"""The run supervisor's decisions, from a real SQLite database and no Celery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from matf.options import RunOptions
from matf.pipeline.report import record_finished
from matf.pipeline.supervise import (
    MAX_REQUEUES,
    Job,
    driver_gone,
    end_run,
    give_up,
    overdue,
    record_requeue,
    requeues,
    this_process,
    time_limit_s,
    unfinished_runs,
)
from matf.results import RunStatus, TestResult
from matf.spec import parse_spec
from matf.storage.db import Sessions, get_engine, migrate, sessions_for
from matf.storage.runs import create_run, get_run, save_cases, set_phase
from tests.conftest import make_settings

GOTO = {"action": "goto", "url": "/"}


def _sessions(folder: Path) -> Sessions:
    engine = get_engine(f"sqlite:///{folder / 'matf.db'}")
    migrate(engine)
    return sessions_for(engine)


def _run(sessions: Sessions, tests: int, out: Path) -> str:
    specs = [
        parse_spec(
            {
                "id": f"t{i}",
                "name": f"t {i}",
                "url": "http://shop.test/",
                "steps": [{"action": "goto", "url": "/"}],
            }
        )
        for i in range(tests)
    ]
    with sessions(True) as session:
        run = create_run(session, "http://shop.test/", RunOptions(out_dir=str(out)))
        save_cases(session, run.id, specs)
        set_phase(session, run.id, "executing")
        return run.id


def _passed(run_id: str, case_id: str) -> TestResult:
    spec = parse_spec({"id": case_id, "name": case_id, "url": "http://shop.test/", "steps": [GOTO]})
    return TestResult.for_spec(spec, "chromium", run_id, "passed")


def test_an_unfinished_run_lacks_exactly_the_results_not_stored(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    run_id = _run(sessions, 3, tmp_path / "out")
    with sessions(True) as session:
        record_finished(session, _passed(run_id, "t1"))
    with sessions() as session:
        (run,) = unfinished_runs(session)
    assert run.run_id == run_id and run.phase == "executing" and run.driver is None
    assert [j.case_id for j in run.missing] == ["t0", "t2"]
    assert run.missing[0].task_id == f"{run_id}:t0:chromium"


def test_a_run_past_its_limit_is_overdue_and_a_small_run_gets_a_smaller_limit(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, matf_run_timeout=3600)
    per_test = settings.executor_time_limit_s  # every attempt of a test, at its timeout
    assert time_limit_s(settings, 2) == 600 + 2 * per_test
    assert time_limit_s(settings, 1000) == 3600
    sessions = _sessions(tmp_path)
    _run(sessions, 2, tmp_path / "out")
    with sessions() as session:
        (run,) = unfinished_runs(session)
    assert overdue(run, settings) is None
    limit = 600 + 2 * per_test
    assert overdue(run, settings, run.created_at + timedelta(seconds=limit - 1)) is None
    late = run.created_at + timedelta(seconds=limit + 1)
    assert overdue(run, settings, late) == f"run did not finish within {limit} s (its time limit)"


def test_ending_a_run_keeps_its_results_records_the_rest_and_writes_the_reports(
    tmp_path: Path,
) -> None:
    sessions = _sessions(tmp_path)
    out = tmp_path / "out"
    run_id = _run(sessions, 3, out)
    with sessions(True) as session:
        record_finished(session, _passed(run_id, "t0"))

    published = end_run(sessions, run_id, "its workers went away", tmp_path / "storage")

    assert published is not None and published.status == RunStatus.ERROR
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["status"] == "error" and report["run"]["error"] == "its workers went away"
    by_id = {t["case_id"]: t for t in report["tests"]}
    assert by_id["t0"]["status"] == "passed"
    assert [by_id[c]["error"] for c in ("t1", "t2")] == ["no result: its workers went away"] * 2
    # A run that ended already keeps its verdict
    assert end_run(sessions, run_id, "something else", tmp_path / "storage") is None
    with sessions() as session:
        assert get_run(session, run_id).error == "its workers went away"


def test_a_test_sent_again_too_often_is_recorded_as_an_error_naming_why(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    run_id = _run(sessions, 1, tmp_path / "out")
    job = Job(run_id, "t0", "chromium")
    with sessions(True) as session:
        for attempt in range(1, MAX_REQUEUES + 1):
            assert record_requeue(session, job, attempt, "its worker stopped") is not None
        assert record_requeue(session, job, 1, "its worker stopped") is None  # once per try
        assert requeues(session, job.task_id) == MAX_REQUEUES
        give_up(session, job, "its worker stopped")
    with sessions() as session:
        (run,) = unfinished_runs(session)
    assert run.missing == ()


def test_a_driver_is_gone_when_its_process_is_and_alive_elsewhere(tmp_path: Path) -> None:
    me = this_process()
    assert me.startswith(f"{socket.gethostname()}:{os.getpid()}:") and not driver_gone(me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert driver_gone(f"{host}:{child.pid}:123")
    assert not driver_gone(f"another-host:{child.pid}:123")  # cannot tell: counts as alive
    start = me.rsplit(":", 1)[1]
    if start:  # a reused pid is told apart by its start time
        assert driver_gone(f"{host}:{os.getpid()}:{int(start) + 1}")
