"""Faults in distributed mode: a fresh private cluster (tests/cluster.py) for every trial.

A trial starts `matf run` on a campaign whose quick tests come first, waits
for the moment its fault needs (results stored, a phase reached), strikes,
does the fault's next steps when due (restart Redis after 3 s...) and times
the run's end from the strike. The cluster is then stopped the gentle way
(SIGTERM, as a deployment is scaled down) and the trial's Chromium counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos.probe import (
    RunView,
    chromium_left,
    last_line,
    runs,
    trial_of,
    wait_for,
    wait_for_end,
)
from bench.chaos.table import ENDED, Trial
from tests.cluster import Cluster, slow_and_quick_suite
from tests.conftest import MATF

QUICK, SLOW, SLOW_MS = 12, 2, 3000
TEST_TIMEOUT_S = 30  # tests/conftest.py's subprocess_env: TEST_TIMEOUT=30000
LIMIT_S = TEST_TIMEOUT_S + 60
RUN_TIMEOUT_S = 45  # MATF_RUN_TIMEOUT of the row whose worker never comes back
PHASE_TRIES = 3  # runs to try when a phase is too short to catch


class ChaosCluster(Cluster):
    """The tests' cluster, with a scale-down and a stop that signals every process at once."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.retired: list[subprocess.Popen[bytes]] = []
        super().__init__(folder, **env)

    def sigterm_executor(self) -> None:
        """SIGTERM the busy executor worker (scale-down) and start its replacement at once."""
        self.executor.send_signal(signal.SIGTERM)
        self.retired.append(self.executor)
        self.restart_executor()

    def stop(self) -> None:
        """SIGTERM every worker and beat at once (a warm shutdown), then Redis."""
        procs = [self.beat, self.control, self.executor, *self.retired]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.redis.stop()
        for log in self.logs:
            log.close()


Later = list[tuple[float, Callable[[ChaosCluster], None]]]


@dataclass(frozen=True)
class Scenario:
    """When to strike a run, how, and what to do after."""

    when: Callable[[RunView], bool]
    strike: Callable[[ChaosCluster], None]
    later: Later = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # `matf run` options; with none, the quick-first campaign runs
    quick: int = QUICK
    slow: int = SLOW


def quick_first(site: str, slow: int = SLOW, quick: int = QUICK) -> dict[str, Any]:
    """A campaign whose quick tests finish first, so the fault finds finished results."""
    suite = slow_and_quick_suite(site, slow=slow, quick=quick, slow_ms=SLOW_MS)
    suite["tests"].reverse()
    return suite


def start_cli(
    folder: Path, env: dict[str, str], site: str, *args: str, name: str = "cli"
) -> subprocess.Popen[Any]:
    """`matf run` in ``folder``, its output in NAME.out and NAME.err, its reports in out/NAME."""
    with open(folder / f"{name}.out", "a") as out, open(folder / f"{name}.err", "a") as err:
        return subprocess.Popen(
            [*MATF, "run", site, "--out", f"out/{name}", *args],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def stop_cli(cli: subprocess.Popen[Any]) -> None:
    """Make sure a CLI is gone (it outlived its run's limit): SIGKILL its group."""
    if cli.poll() is None:
        os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(10)


def play(site: str, folder: Path, scenario: Scenario) -> Trial:
    """One trial of ``scenario`` on a fresh cluster in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = ChaosCluster(folder, **scenario.env)
    try:
        cli, before = _reach(site, cluster, scenario)
        fault_at = time.monotonic()
        scenario.strike(cluster)
        later = [(delay, _bound(step, cluster)) for delay, step in scenario.later]
        try:
            took = wait_for_end(folder, [cli], fault_at, LIMIT_S, embedded=False, later=later)
        finally:
            stop_cli(cli)
    finally:
        cluster.stop()
    note = f"exit {cli.returncode}: {last_line(folder / 'cli.err')}"
    expected = scenario.quick + scenario.slow if not scenario.args else 0
    return trial_of(folder, before, expected, took, LIMIT_S, chromium_left(folder), note)


def _bound(step: Callable[[ChaosCluster], None], cluster: ChaosCluster) -> Callable[[], None]:
    return lambda: step(cluster)


def _reach(site: str, cluster: ChaosCluster, scenario: Scenario) -> tuple[Any, RunView]:
    """Start runs until one reaches the moment to strike (a short phase can be missed)."""
    suite = None if scenario.args else quick_first(site, scenario.slow, scenario.quick)
    args = scenario.args or ("--suite", "suite.json")
    if suite is not None:
        (cluster.folder / "suite.json").write_text(json.dumps(suite))
    for _ in range(PHASE_TRIES):
        seen = {view.id for view in runs(cluster.folder)}
        cli = start_cli(cluster.folder, cluster.env, site, *args)
        view = wait_for(cluster.folder, lambda v, old=seen: v.id not in old and scenario.when(v))
        if view.status not in ENDED:
            return cli, view
        cli.wait(60)  # it went past the moment: let it finish, try again
    raise TimeoutError(f"{PHASE_TRIES} runs went past the moment to strike")


# -- the faults -----------------------------------------------------------------------------


def busy(view: RunView) -> bool:
    """The quick tests are stored: the slow ones are running."""
    return len(view.results) >= QUICK


def midway(view: RunView) -> bool:
    """Half the quick tests are stored: the rest wait in Redis."""
    return len(view.results) >= QUICK // 2


def kill_a_pool_child(cluster: Cluster) -> None:
    """SIGKILL one prefork child of the executor worker (the other keeps running)."""
    pid = cluster.executor.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGKILL)


def in_phase(phase: str) -> Callable[[RunView], bool]:
    return lambda view: view.phase == phase or view.status in ENDED


SCENARIOS: dict[str, Scenario] = {
    "child": Scenario(busy, kill_a_pool_child),
    "worker-restarted": Scenario(
        busy, Cluster.kill_executor, later=[(5.0, Cluster.restart_executor)]
    ),
    "worker-gone": Scenario(
        busy, Cluster.kill_executor, env={"MATF_RUN_TIMEOUT": str(RUN_TIMEOUT_S)}
    ),
    "redis-save": Scenario(
        midway, lambda c: c.redis.shutdown("save"), later=[(3.0, lambda c: c.redis.restart())]
    ),
    "redis-nosave": Scenario(
        midway, lambda c: c.redis.shutdown("nosave"), later=[(3.0, lambda c: c.redis.restart())]
    ),
    "control-writing": Scenario(
        in_phase("writing"),
        Cluster.kill_control,
        later=[(3.0, Cluster.restart_control)],
        args=("--max-pages", "3", "--types", "functional"),
    ),
    "control-reporting": Scenario(
        in_phase("reporting"),
        Cluster.kill_control,
        later=[(3.0, Cluster.restart_control)],
        quick=20,
        slow=0,
    ),
    "executor-sigterm": Scenario(busy, ChaosCluster.sigterm_executor),
}
