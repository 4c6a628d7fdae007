"""Every way an embedded run can end leaves it ended: signals, and its time limit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.cluster import slow_and_quick_suite
from tests.conftest import MATF, subprocess_env


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                tree.setdefault(int(stat[1]), []).append(int(entry))
    return tree


def _stat(pid: int) -> list[str] | None:
    """State and parent of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file:
            return file.read().rsplit(")", 1)[1].split()[:2]
    except OSError:
        return None


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def _alive(pids: list[int]) -> list[int]:
    """Those still running: a zombie has ended, it waits only to be reaped."""
    return [pid for pid in pids if (_stat(pid) or ["Z"])[0] != "Z"]


def _run(folder: Path) -> models.Run | None:
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        run = session.scalars(select(models.Run)).first()
        if run is not None:
            session.expunge(run)
        return run


def _start(
    folder: Path, site: str, suite: dict[str, object], workers: int = 2, **env: str
) -> subprocess.Popen[str]:
    (folder / "suite.json").write_text(json.dumps(suite))
    return subprocess.Popen(
        [*MATF, "run", site, "--suite", "suite.json", "--out", "out", "--workers", str(workers)],
        cwd=folder,
        env=subprocess_env(folder, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_an_embedded_run_as_ctrl_c_does(
    signum: signal.Signals, demo: str, tmp_path: Path
) -> None:
    # Given an embedded run whose two tests are loading a slow page in Chromium
    cli = _start(tmp_path, demo, slow_and_quick_suite(demo, slow=2, quick=0, slow_ms=30_000))
    try:
        deadline = time.monotonic() + 45
        while len([p for p in _descendants(cli.pid) if "chrom" in _command(p)]) < 2:
            assert cli.poll() is None and time.monotonic() < deadline, "no browser started"
            time.sleep(0.2)
        started = _descendants(cli.pid)
        # When the signal reaches the process alone (kill, a service manager, a closed terminal)
        os.kill(cli.pid, signum)
        _out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()
    # Then it exits as the signal would have killed it, saying so in one line
    assert cli.returncode == 128 + signum, err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"matf: interrupted by {signum.name}"
    ]
    # And its run is ended with the reason, not left running
    run = _run(tmp_path)
    assert run is not None and run.status == "error" and run.phase == "done"
    assert run.error == f"interrupted by {signum.name}"
    # And no browser (nor its driver) outlives it
    deadline = time.monotonic() + 15
    while _alive(started):
        assert time.monotonic() < deadline, [_command(p)[:80] for p in _alive(started)]
        time.sleep(0.2)


def _started(folder: Path) -> set[str]:
    """The tests an executor began, from their persisted ``test_started`` events."""
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        events = session.scalars(select(models.Event).where(models.Event.kind == "test_started"))
        return {str(event.payload["case_id"]) for event in events}


def test_a_run_past_its_time_limit_ends_with_its_reports_and_runs_nothing_more(
    demo: str, tmp_path: Path
) -> None:
    # Given a run of three slow tests on one executor, allowed less time than they take
    suite = slow_and_quick_suite(demo, slow=3, quick=0, slow_ms=6_000)  # under STEP_TIMEOUT
    cli = _start(tmp_path, demo, suite, workers=1, MATF_RUN_TIMEOUT="10")
    try:
        out, err = cli.communicate(timeout=90)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()
    # Then the command says in one line that the run hit its time limit, and exits 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert cli.returncode == 2 and len(lines) == 1, err
    assert re.fullmatch(
        r"matf: error: run r-\S+ hit its time limit \(did not finish within 10 s; "
        r"MATF_RUN_TIMEOUT sets it\): tests without a result are errors in .*report\.html",
        lines[0],
    ), lines[0]
    # And the run ended with its reason, every test in the report, the missing ones as errors
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["status"] == "error"
    assert report["run"]["error"] == "run did not finish within 10 s (its time limit)"
    assert sorted(t["case_id"] for t in report["tests"]) == ["slow-0", "slow-1", "slow-2"]
    missing = [t for t in report["tests"] if t["status"] == "error"]
    assert missing and all(t["error"] == "no result: " + report["run"]["error"] for t in missing)
    # And the tests still queued then never ran: one executor, so at most the one in flight
    # when the run ended began without a result
    finished = [t for t in report["tests"] if t not in missing]
    assert len(_started(tmp_path)) <= len(finished) + 1 < 3
    # And the log (not a terminal) showed the run moving, a plain line per phase
    phases = [line.split("] ", 1)[1].split("  ")[0] for line in out.splitlines() if "s] " in line]
    assert phases[-2:] == ["running tests", "done"] and len(set(phases)) == len(phases), out
