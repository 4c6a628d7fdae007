"""Embedded runs are watched too: a run whose process died is ended by the next MATF process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tasks.supervisor import supervise_local
from tests.cluster import slow_and_quick_suite
from tests.conftest import MATF, make_settings, subprocess_env


def _state(folder: Path) -> tuple[str, str, str | None, str | None] | None:
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        run = session.scalars(select(models.Run)).first()
        return None if run is None else (run.id, run.phase, run.driver, run.error)


def _stored(folder: Path) -> int:
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        return len(session.scalars(select(models.TestResultRow.id)).all())


def test_a_run_whose_process_was_killed_is_ended_with_its_results_and_a_reason(
    demo: str, tmp_path: Path
) -> None:
    suite = slow_and_quick_suite(demo, slow=2, quick=2, slow_ms=6000)
    suite["tests"].reverse()  # the quick ones first: they finish before the kill
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    cli = subprocess.Popen(
        [*MATF, "run", demo, "--suite", "suite.json", "--out", "out", "--workers", "2"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _stored(tmp_path) < 2:
        assert time.monotonic() < deadline, "the quick tests never finished"
        time.sleep(0.1)
    # When its process is killed outright (no handler runs: the run stays "running")
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(10)
    run_id, _phase, driver, _error = _state(tmp_path) or ("", "", None, None)
    assert driver is not None and driver.split(":")[1] == str(cli.pid)
    # Then any MATF process' supervisor on this host ends it
    done = supervise_local(make_settings(tmp_path), None)
    assert done.ended == [run_id]
    _id, phase, _driver, error = _state(tmp_path) or ("", "", None, None)
    assert (
        phase == "done"
        and error == f"the process running it stopped (pid {cli.pid}) before it ended"
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["status"] == "error"
    statuses = {t["case_id"]: t["status"] for t in report["tests"]}
    assert set(statuses) == {t["id"] for t in suite["tests"]}
    assert [statuses[f"quick-{i}"] for i in range(2)] == ["passed", "passed"]
    assert {statuses["slow-0"], statuses["slow-1"]} == {"error"}
    assert supervise_local(make_settings(tmp_path), None).ended == []  # ended once
