"""A run past its time limit, or interrupted (distributed): ended, and nothing of it runs later.

Issue 12's row: the executor worker dies and never comes back; the command
gives up at ``MATF_RUN_TIMEOUT``; before, the run's tests waited in Redis (in
its queue, and taken by the dead worker) and a worker started later ran them
on a run already ended.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import redis
from sqlalchemy import select

from matf.storage import models
from matf.storage.db import session_scope
from tests.cluster import Cluster, finish, slow_and_quick_suite


def _in_redis(cluster: Cluster, run_id: str) -> tuple[list[str], list[str]]:
    """The run's task ids waiting in a queue, and those a worker took (Redis' unacked hash)."""
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        lists = [key for key in client.scan_iter() if client.type(key) == b"list"]
        queued = [raw for key in lists for raw in client.lrange(key, 0, -1)]
        taken = [json.dumps(json.loads(raw)[0]) for raw in client.hgetall("unacked").values()]
    finally:
        client.close()
    return _ids(queued, run_id), _ids(taken, run_id)


def _ids(raws: list[bytes] | list[str], run_id: str) -> list[str]:
    ids = []
    for raw in raws:
        try:
            ids.append(str(json.loads(raw)["headers"]["id"]))
        except (ValueError, KeyError, TypeError):
            continue  # not a task message
    return sorted(task_id for task_id in ids if task_id.startswith(f"{run_id}:"))


def _run_id(cluster: Cluster) -> str | None:
    with session_scope(cluster.engine) as session:
        return session.scalars(select(models.Run.id).where(models.Run.phase == "executing")).first()


def _started(cluster: Cluster) -> set[str]:
    with session_scope(cluster.engine) as session:
        events = session.scalars(select(models.Event).where(models.Event.kind == "test_started"))
        return {str(event.payload["case_id"]) for event in events}


def _taken(cluster: Cluster, cli: subprocess.Popen[str], queued: int, taken: int) -> str:
    """Wait until the executing run has ``queued`` tests waiting and ``taken`` held; its id."""
    deadline, run_id = time.monotonic() + 40, None
    while run_id is None or [len(ids) for ids in _in_redis(cluster, run_id)] != [queued, taken]:
        assert time.monotonic() < deadline and cli.poll() is None, "no test was taken"
        run_id = _run_id(cluster)
        time.sleep(0.05)
    return run_id


def test_a_run_past_its_time_limit_leaves_no_test_for_a_worker_started_later(
    tmp_path: Path, healthy_demo: str
) -> None:
    cluster = Cluster(tmp_path, MATF_RUN_TIMEOUT="10")
    try:
        suite = slow_and_quick_suite(healthy_demo, slow=2, quick=4, slow_ms=30_000)
        cli = cluster.start_run(healthy_demo, suite=suite)
        # When the executor worker dies holding two tests, four still queued
        run_id = _taken(cluster, cli, queued=4, taken=2)
        cluster.kill_executor()
        try:
            _out, err = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
        # Then the command ends at the time limit, in one line, exit 2, its reports written
        assert cli.returncode == 2, err
        assert "hit its time limit (did not finish within 10 s" in err, err
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["run"]["status"] == "error" and len(report["tests"]) == 6
        # And Redis holds nothing of the run: neither its queued tests nor the dead worker's
        assert _in_redis(cluster, run_id) == ([], [])
        # And an executor started afterwards runs none of its tests
        began = _started(cluster)
        cluster.restart_executor()
        cluster.wait_for_workers(2)
        time.sleep(3)  # a message left in a queue would be taken at once
        assert _started(cluster) == began
    finally:
        cluster.stop()


def test_an_interrupted_run_leaves_no_test_waiting_for_the_cluster(
    cluster: Cluster, healthy_demo: str
) -> None:
    suite = slow_and_quick_suite(healthy_demo, slow=2, quick=4, slow_ms=8_000)
    cli = cluster.start_run(healthy_demo, suite=suite)
    # When its command is stopped (SIGTERM) with two tests running, four queued
    run_id = _taken(cluster, cli, queued=4, taken=2)
    cli.send_signal(signal.SIGTERM)
    code, _out, err = finish(cli, timeout_s=30)
    # Then it ends in one line, its run marked, and none of its queued tests is left to run
    assert code == 143 and "matf: interrupted by SIGTERM" in err, err
    state = cluster.run_state()
    assert state is not None and state[0] == "error"
    assert _in_redis(cluster, run_id)[0] == []
    time.sleep(10)  # the running ones finish; a queued one would have started by now
    assert len(_started(cluster)) == 2
