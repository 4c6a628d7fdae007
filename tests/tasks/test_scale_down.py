"""A pod scaled down mid-test: Celery's soft shutdown, as the deployments run the executors.

Kubernetes (and ``docker-compose stop``) sends SIGTERM, then SIGKILL when
``terminationGracePeriodSeconds`` ends. The deployments set
``REMAP_SIGTERM=SIGQUIT``, so SIGTERM starts Celery's cold shutdown with its
soft part: running tests get ``WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds to
finish, and what still runs then is re-queued for another executor before the
worker exits, well before the kill. Either way no test is lost and none is
stored twice. (A plain SIGTERM, Celery's warm shutdown with no bound, is in
``test_faults_that_hold.py``.)
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import (
    Cluster,
    assert_every_test_passed_once,
    finish,
    slow_and_quick_suite,
    wait_for_an_active_slow_test,
)

SOFT_S = 4


@pytest.fixture
def soft_cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path, REMAP_SIGTERM="SIGQUIT", WORKER_SOFT_SHUTDOWN_TIMEOUT=str(SOFT_S))
    yield started
    started.stop()


@pytest.mark.parametrize(
    ("slow_ms", "requeued"),
    [(1_000, False), (9_000, True)],
    ids=["finished-in-the-soft-window", "requeued-after-it"],
)
def test_a_busy_executor_stopped_by_sigterm_finishes_or_requeues_its_test_and_loses_none(
    soft_cluster: Cluster, healthy_demo: str, slow_ms: int, requeued: bool
) -> None:
    cluster = soft_cluster
    suite = slow_and_quick_suite(healthy_demo, slow=1, quick=3, slow_ms=slow_ms)
    cli = cluster.start_run(healthy_demo, suite=suite)
    # When the executor worker gets SIGTERM while the slow test runs
    wait_for_an_active_slow_test(cluster)
    old, stopped_at = cluster.executor, time.monotonic()
    old.send_signal(signal.SIGTERM)
    # Then it exits on its own, within the soft timeout (plus the cold shutdown's own work)
    assert old.wait(SOFT_S + 30) == 0, cluster.log("executor")
    waited = time.monotonic() - stopped_at
    assert waited >= SOFT_S - 1, f"exited after {waited:.1f} s, before the soft timeout"
    log = cluster.log("executor")
    assert f"Initiating Soft Shutdown, terminating in {float(SOFT_S)} seconds" in log, log
    # A test still running when the soft timeout ends goes back to the queue at once
    assert ("Restoring 1 unacknowledged message(s)" in log) is requeued, log
    # And a new executor finishes the run: every test passed, each stored once
    cluster.restart_executor()
    code, stdout, stderr = finish(cli)
    assert code == 0, stdout + stderr
    received = cluster.log("executor").count(":slow-0:chromium] received")
    assert received == (2 if requeued else 1)  # the new executor ran it only if it came back
    assert_every_test_passed_once(cluster, suite)
