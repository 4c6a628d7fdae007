"""The run supervisor finishes what workers and Redis drop (distributed mode, real processes).

Each test is one row of issue 12's table of faults: a whole executor worker
killed (restarted, or never), the control worker killed while the run is
writing or reporting (Redis restarted without its data: test_redis_faults.py). Every run ends, with
every test exactly once, or in error with a one-line reason, well before
Redis' visibility timeout (an hour) would have delivered anything again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from matf.storage.db import get_engine
from tasks import monitor
from tests.cluster import Cluster, finish, slow_and_quick_suite

ENDED = ("passed", "failed", "error")


def _report(cluster: Cluster) -> dict[str, Any]:
    return json.loads((cluster.folder / "out" / "report.json").read_text())


def _exactly_once(cluster: Cluster, suite: dict[str, Any]) -> dict[str, Any]:
    report = _report(cluster)
    ids = sorted(t["id"] for t in suite["tests"])
    assert sorted(t["case_id"] for t in report["tests"]) == ids
    stored = cluster.results(report["run"]["id"])
    assert sorted(case for case, _browser, _status in stored) == ids
    return report


def test_an_executor_worker_killed_whole_and_restarted_loses_no_test(
    cluster: Cluster, healthy_demo: str
) -> None:
    suite = slow_and_quick_suite(healthy_demo, slow=2, quick=6)
    cli = cluster.start_run(healthy_demo, suite=suite)
    # When the executor worker dies with its pool while it runs the slow tests
    cluster.wait_until(lambda s: s is not None and s[1] == "executing")
    time.sleep(2.0)  # both slow tests taken
    cluster.kill_executor()
    killed_at = time.monotonic()
    time.sleep(5)
    cluster.restart_executor()
    # Then the supervisor puts its messages back: every test once, all passed
    code, stdout, stderr = finish(cli)
    assert code == 0, stdout + stderr
    report = _exactly_once(cluster, suite)
    assert all(t["status"] == "passed" for t in report["tests"])
    assert "went back to its queue (its worker stopped)" in cluster.log("control")
    assert time.monotonic() - killed_at < 120  # heartbeats, not the 3,720 s visibility timeout
    # And readiness says the supervisor is running (beat's first job)
    engine = get_engine(cluster.settings.database_url)
    supervisor = monitor.readiness(cluster.app, engine, cluster.settings, None)["checks"][
        "supervisor"
    ]
    assert supervisor["ok"] and "the run supervisor ran" in supervisor["detail"], supervisor


def test_an_executor_worker_that_never_comes_back_ends_the_run_with_a_reason(
    tmp_path: Path, healthy_demo: str
) -> None:
    cluster = Cluster(tmp_path, MATF_RUN_TIMEOUT="45")
    try:
        suite = slow_and_quick_suite(healthy_demo, slow=2, quick=4)
        cli = cluster.start_run(healthy_demo, suite=suite)
        cluster.wait_until(lambda s: s is not None and s[1] == "executing")
        time.sleep(2.0)
        cluster.kill_executor()
        code, stdout, stderr = finish(cli)
    finally:
        cluster.stop()
    # Then the run ends in error, saying why in one line, with the reports written
    assert code != 0
    assert "within 45 s" in stderr, stderr
    report = _report(cluster)
    assert report["run"]["status"] == "error"
    assert "within 45 s" in report["run"]["error"]
    missing = [t for t in report["tests"] if t["status"] == "error"]
    assert missing and all("within 45 s" in t["error"] for t in missing)
    assert len(report["tests"]) == len(suite["tests"])


@pytest.mark.parametrize("phase", ["writing", "reporting"])
def test_the_control_worker_killed_mid_phase_and_restarted_finishes_the_run(
    cluster: Cluster, healthy_demo: str, phase: str
) -> None:
    for _ in range(3):  # reporting is short: try again if the run got past it first
        if phase == "writing":
            cli = cluster.start_run(healthy_demo, "--max-pages", "2", "--types", "functional")
        else:
            cli = cluster.start_run(healthy_demo, suite=slow_and_quick_suite(healthy_demo, 0, 30))
        cluster.wait_until(
            lambda s: s is not None and (s[1] == phase or s[0] in ENDED), every_s=0.01
        )
        state = cluster.run_state()
        assert state is not None
        if state[1] == phase:
            cluster.kill_control()
            time.sleep(3)
            cluster.restart_control()
            break
        finish(cli)
    else:
        pytest.fail(f"three runs went through {phase} before the worker could be killed")
    code, stdout, stderr = finish(cli)
    assert code == 0, stdout + stderr
    report = _report(cluster)
    assert report["run"]["status"] == "passed" and report["tests"]
    assert len({t["id"] for t in report["tests"]}) == len(report["tests"])
