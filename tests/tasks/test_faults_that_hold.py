"""Faults MATF already takes well, kept that way (issue 12's rows that held).

A busy executor worker scaled down (SIGTERM: a warm shutdown) and replaced,
and two embedded runs at once on one SQLite database. The third row that
held, a pool child killed with SIGKILL, is in ``test_distributed.py``.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.cluster import (
    Cluster,
    assert_every_test_passed_once,
    finish,
    slow_and_quick_suite,
    wait_for_an_active_slow_test,
)
from tests.conftest import MATF, subprocess_env


def test_a_busy_executor_worker_scaled_down_and_replaced_loses_no_test_and_duplicates_none(
    cluster: Cluster, healthy_demo: str
) -> None:
    suite = slow_and_quick_suite(healthy_demo, slow=2, quick=4)
    cli = cluster.start_run(healthy_demo, suite=suite)
    # When the executor worker is told to stop (SIGTERM) while it runs the slow tests,
    # and a new one takes its place
    wait_for_an_active_slow_test(cluster)
    old = cluster.executor
    old.send_signal(signal.SIGTERM)
    cluster.restart_executor()
    # Then the old one finishes what it runs and goes; the run passes, every test once
    code, stdout, stderr = finish(cli)
    assert code == 0, stdout + stderr
    assert old.wait(60) == 0
    assert "Warm shutdown" in cluster.log("executor")
    assert_every_test_passed_once(cluster, suite)


def test_two_embedded_runs_at_once_on_one_database_both_finish_with_every_result(
    tmp_path: Path, healthy_demo: str
) -> None:
    # Given two suites and one SQLite database
    suites = {}
    for name in ("one", "two"):
        suite = slow_and_quick_suite(healthy_demo, slow=1, quick=3, slow_ms=1000)
        for test in suite["tests"]:
            test["id"] = f"{name}-{test['id']}"
        (tmp_path / f"{name}.json").write_text(json.dumps(suite))
        suites[name] = suite
    # When both run embedded at the same time
    runs = {
        name: subprocess.Popen(
            [*MATF, "run", healthy_demo, "--suite", f"{name}.json", "--out", name],
            cwd=tmp_path,
            env=subprocess_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in suites
    }
    ended = {name: finish(cli) for name, cli in runs.items()}
    # Then both pass with each of their tests reported once, and the database never locked
    for name, (code, stdout, stderr) in ended.items():
        assert code == 0, stdout + stderr
        assert "database is locked" not in stdout + stderr
        report = json.loads((tmp_path / name / "report.json").read_text())
        ids = sorted(t["id"] for t in suites[name]["tests"])
        assert sorted(t["case_id"] for t in report["tests"]) == ids
        assert all(t["status"] == "passed" for t in report["tests"])
    assert "database is locked" not in (tmp_path / "matf.log").read_text()
