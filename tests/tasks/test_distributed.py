"""Distributed mode: real Redis, real prefork Celery workers in their own processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tasks.app import make_celery
from tests.conftest import MATF, make_settings, run_matf, subprocess_env
from tests.services import start_worker, stop_process


class Workers:
    """One prefork worker process serving all six queues."""

    def __init__(self, folder: Path, redis_url: str, concurrency: int = 2) -> None:
        self.folder, self.redis_url = folder, redis_url
        self.env = subprocess_env(folder, REDIS_URL=redis_url)
        self.log = open(folder / "worker.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = start_worker(
            folder, self.env, f"w{os.getpid()}@%h", loglevel="INFO", log=self.log
        )
        self.app = make_celery(make_settings(folder, redis_url=redis_url))
        deadline = time.monotonic() + 60
        while not self.app.control.inspect(timeout=0.5).ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + (folder / "worker.log").read_text())

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    started = Workers(tmp_path, redis_url)
    yield started
    started.stop()


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {t["id"]: t["status"] for t in report["tests"]}


def test_the_same_suite_gives_the_same_results_in_both_modes(
    demo: str, workers: Workers, redis_url: str, tmp_path: Path
) -> None:
    # Given one suite written from the buggy demo
    written = run_matf(["write", demo, "-o", "suite.json", "--max-pages", "4"], tmp_path)
    assert written.returncode == 0, written.stderr
    suite = json.loads((tmp_path / "suite.json").read_text())
    assert len(suite["tests"]) >= 10
    # When it runs embedded, then distributed on prefork workers over Redis
    embedded = run_matf(["run", demo, "--suite", "suite.json", "--out", "embedded"], tmp_path)
    distributed = run_matf(
        ["run", demo, "--suite", "suite.json", "--out", "distributed"],
        tmp_path,
        REDIS_URL=redis_url,
    )
    # Then both give the same verdict on every test
    assert embedded.returncode == distributed.returncode == 1, distributed.stderr
    one = json.loads((tmp_path / "embedded" / "report.json").read_text())
    two = json.loads((tmp_path / "distributed" / "report.json").read_text())
    assert _statuses(one) == _statuses(two)
    assert "failed" in _statuses(two).values() and "passed" in _statuses(two).values()
    worker_names = {t["worker"] for t in two["tests"]}
    assert all(name and name.split(":")[1] != str(os.getpid()) for name in worker_names)


def test_a_worker_killed_mid_test_loses_no_test_and_duplicates_none(
    demo: str, workers: Workers, redis_url: str, tmp_path: Path
) -> None:
    tests = [
        {
            "id": f"slow-{i}",
            "name": f"slow {i}",
            "url": f"{demo}/",
            "steps": [{"action": "goto", "url": f"/lab/slow?ms=3000&n={i}"}],
        }
        for i in range(2)
    ]
    tests += [
        {
            "id": f"quick-{i}",
            "name": f"quick {i}",
            "url": f"{demo}/lab/ok",
            "steps": [{"action": "goto", "url": "/lab/ok"}],
        }
        for i in range(6)
    ]
    (tmp_path / "suite.json").write_text(json.dumps({"version": 1, "tests": tests}))
    cli = subprocess.Popen(
        [*MATF, "run", demo, "--suite", "suite.json", "--out", "out"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path, REDIS_URL=redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # When the worker process running a slow test is killed with SIGKILL
    killed = _kill_a_child_running(workers, "slow-")
    stdout, stderr = cli.communicate(timeout=300)
    # Then the run still ends with every test exactly once, each passed
    assert cli.returncode == 0, stdout + stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert sorted(t["case_id"] for t in report["tests"]) == sorted(t["id"] for t in tests)
    assert all(t["status"] == "passed" for t in report["tests"])
    engine = get_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    with session_scope(engine) as session:
        run_id = report["run"]["id"]
        rows = session.scalar(
            select(func.count())
            .select_from(models.TestResultRow)
            .where(models.TestResultRow.run_id == run_id)
        )
        finished = session.scalar(
            select(func.count())
            .select_from(models.Event)
            .where(models.Event.run_id == run_id, models.Event.kind == "test_finished")
        )
    assert rows == finished == len(tests)
    pid, case_id = killed
    assert (
        f"pid:{pid} exited with 'signal 9 (SIGKILL)'" in (workers.folder / "worker.log").read_text()
    )
    rerun = next(t for t in report["tests"] if t["case_id"] == case_id)
    assert not rerun["worker"].endswith(f":{pid}")  # redelivered to a fresh process


def _kill_a_child_running(workers: Workers, prefix: str) -> tuple[str, str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        active = workers.app.control.inspect(timeout=0.5).active() or {}
        for tasks in active.values():
            for task in tasks:
                if prefix in json.dumps(task.get("args")) and task.get("worker_pid"):
                    time.sleep(0.5)  # let the browser get into the page load
                    os.kill(int(task["worker_pid"]), signal.SIGKILL)
                    return str(task["worker_pid"]), str(task["args"][0]["spec"]["id"])
        time.sleep(0.1)
    raise AssertionError("no slow test became active")
