"""A small MATF cluster on loopback, to break on purpose: Redis, workers, beat, a `matf run`.

One control worker (every queue but the executor's), one executor worker and
Celery beat (the run supervisor's schedule), each a real process in its own
process group, so a fault can take a worker with its children, as a node
dying would. Everything is private to one test's folder.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tasks.app import make_celery
from tests.conftest import MATF, make_settings, subprocess_env
from tests.services import RedisServer, kill_group, start_beat, start_worker, stop_process

CONTROL = "context,writer,reporter,optimizer,logger"


def slow_and_quick_suite(site: str, slow: int, quick: int, slow_ms: int = 3000) -> dict[str, Any]:
    """A suite of ``slow`` tests that load a slow page and ``quick`` ones that do not."""
    tests = [
        {
            "id": f"slow-{i}",
            "name": f"slow {i}",
            "url": f"{site}/",
            "steps": [{"action": "goto", "url": f"/lab/slow?ms={slow_ms}&n={i}"}],
        }
        for i in range(slow)
    ]
    tests += [
        {
            "id": f"quick-{i}",
            "name": f"quick {i}",
            "url": f"{site}/lab/ok",
            "steps": [{"action": "goto", "url": f"/lab/ok?n={i}"}],
        }
        for i in range(quick)
    ]
    return {"version": 1, "tests": tests}


def finish(cli: subprocess.Popen[str], timeout_s: float = 240) -> tuple[int, str, str]:
    """Wait for a ``matf run``: its exit code, stdout and stderr; fail the test if it hangs."""
    try:
        stdout, stderr = cli.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        cli.kill()
        stdout, stderr = cli.communicate()
        raise AssertionError("the run never ended:\n" + stdout + stderr) from None
    return cli.returncode, stdout, stderr


def wait_for_an_active_slow_test(cluster: Cluster, timeout_s: float = 120) -> None:
    """Until a worker runs one of ``slow_and_quick_suite``'s slow tests."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        active = cluster.app.control.inspect(timeout=0.5).active() or {}
        if any(
            "slow-" in json.dumps(task.get("args")) for tasks in active.values() for task in tasks
        ):
            return
        time.sleep(0.1)
    raise AssertionError("no slow test became active")


def assert_every_test_passed_once(cluster: Cluster, suite: dict[str, Any]) -> None:
    """The run's report has each test of ``suite`` passed, and each was stored exactly once."""
    report = json.loads((cluster.folder / "out" / "report.json").read_text())
    ids = sorted(t["id"] for t in suite["tests"])
    assert sorted(t["case_id"] for t in report["tests"]) == ids
    assert all(t["status"] == "passed" for t in report["tests"])
    stored = cluster.results(report["run"]["id"])
    assert sorted(case for case, _browser, _status in stored) == ids


class Cluster:
    """Redis, a control worker, an executor worker and beat, in ``folder``."""

    def __init__(
        self, folder: Path, executor_env: dict[str, str] | None = None, **env: str
    ) -> None:
        self.folder = folder
        self.redis = RedisServer(folder)
        self.env = subprocess_env(folder, REDIS_URL=self.redis.url, **env)
        self.executor_env = {**self.env, **(executor_env or {})}  # a node of its own, say
        self.logs: list[IO[str]] = []
        self.settings = make_settings(folder, redis_url=self.redis.url)
        self.app = make_celery(self.settings)
        self.control = self._worker("control", CONTROL)
        self.executor = self._worker("executor", "executor")
        self.beat = start_beat(folder, self.env, self._log("beat"))
        self.wait_for_workers(2)

    def _log(self, name: str) -> IO[str]:
        log = open(self.folder / f"{name}.log", "a")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        return log

    def _worker(self, name: str, queues: str) -> subprocess.Popen[bytes]:
        env = self.executor_env if name == "executor" else self.env
        return start_worker(self.folder, env, f"{name}@%h", queues, 2, "INFO", self._log(name))

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def wait_for_workers(self, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.app.control.inspect(timeout=0.5).ping() or {}) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} workers did not answer:\n" + self.log("control"))

    # -- faults --------------------------------------------------------------------------

    def kill_executor(self) -> None:
        """SIGKILL the executor worker and its pool (browsers included)."""
        kill_group(self.executor)

    def restart_executor(self) -> None:
        self.executor = self._worker("executor", "executor")

    def kill_control(self) -> None:
        kill_group(self.control)

    def restart_control(self) -> None:
        self.control = self._worker("control", CONTROL)

    # -- a run -----------------------------------------------------------------------------

    def start_run(self, site: str, *args: str, suite: dict[str, Any] | None = None) -> Any:
        extra = list(args)
        if suite is not None:
            (self.folder / "suite.json").write_text(json.dumps(suite))
            extra += ["--suite", "suite.json"]
        return subprocess.Popen(
            [*MATF, "run", site, "--out", "out", *extra],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_state(self) -> tuple[str, str, int] | None:
        """The newest run's (status, phase, results stored), None before it exists."""
        with session_scope(self.engine) as session:
            run = session.scalars(select(models.Run).order_by(models.Run.created_at.desc())).first()
            if run is None:
                return None
            stored = session.scalar(
                select(func.count())
                .select_from(models.TestResultRow)
                .where(models.TestResultRow.run_id == run.id)
            )
            return run.status.value, run.phase, int(stored or 0)

    def wait_until(self, predicate: Any, timeout_s: float = 120, every_s: float = 0.05) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.run_state()):
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened; run is {self.run_state()}")
            time.sleep(every_s)

    @property
    def engine(self) -> Any:
        return get_engine(f"sqlite:///{self.folder / 'matf.db'}")

    def results(self, run_id: str) -> list[tuple[str, str, str]]:
        """Every stored result of the run as (case, browser, status)."""
        with session_scope(self.engine) as session:
            rows = session.execute(
                select(
                    models.TestResultRow.case_id,
                    models.TestResultRow.browser,
                    models.TestResultRow.status,
                ).where(models.TestResultRow.run_id == run_id)
            ).all()
            return sorted((str(c), str(b), str(s)) for c, b, s in rows)

    def stop(self) -> None:
        for proc in (self.beat, self.control, self.executor):
            stop_process(proc, grace_s=10)
        self.redis.stop()
        for log in self.logs:
            log.close()
