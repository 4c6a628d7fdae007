"""The agents' steps without Celery: planning a fan-out, and executing one job."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matf.browser.pool import close_thread_pool
from matf.options import HealingOptions, NetworkOptions, RunOptions
from matf.pipeline.execute import execute
from matf.pipeline.fanout import ExecutorJob, HealRequest, plan_fan_out
from matf.results import TestResult
from matf.settings import Settings
from matf.spec import TestSpec, parse_spec
from tests.conftest import make_settings

SEALED = {"origin": "http://shop.test", "key_id": "k", "nonce": "bm9uY2U=", "ciphertext": "eA=="}


def _spec(case_id: str, url: str, *extra: dict[str, object]) -> TestSpec:
    steps = [{"action": "goto", "url": "/lab/ok"}, *extra]
    return parse_spec({"id": case_id, "name": case_id, "url": url, "steps": steps})


def test_a_run_fans_out_one_job_per_test_and_browser_healing_on_the_first_browser() -> None:
    fill = {"action": "fill", "target": {"label": "Password"}, "value": "{{secret:login.password}}"}
    login = _spec("login", "http://shop.test/", fill)
    plain = _spec("plain", "http://shop.test/")
    options = RunOptions(browsers=("firefox", "chromium"), network=NetworkOptions(guarded=True))
    sealed = [{**SEALED, "name": "login"}, {**SEALED, "name": "other"}]

    jobs = plan_fan_out("r-1", options, [login, plain], sealed=sealed)

    assert [(j.spec.id, j.browser) for j in jobs] == [
        ("login", "firefox"), ("login", "chromium"), ("plain", "firefox"), ("plain", "chromium"),
    ]  # fmt: skip
    assert all(j.network.guarded and j.task_id == f"r-1:{j.spec.id}:{j.browser}" for j in jobs)
    # Only the secret a test refers to travels with it, and only sealed
    assert [[s.name for s in j.secrets] for j in jobs] == [["login"], ["login"], [], []]
    assert [j.heal for j in jobs] == [HealRequest(), None, HealRequest(), None]
    declined = RunOptions(healing=HealingOptions(enabled=False))
    assert [j.heal for j in plan_fan_out("r-2", declined, [plain])] == [None]


def _execute_on_a_worker_thread(job: ExecutorJob, settings: Settings) -> TestResult:
    """As an executor thread runs it: its own browsers, closed when the thread is done."""
    with ThreadPoolExecutor(1) as thread:
        try:
            return thread.submit(execute, job, settings).result()
        finally:
            thread.submit(close_thread_pool).result()


def test_a_job_runs_without_celery_and_keeps_its_runs_network_policy(
    demo: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, test_retries=0)
    spec = _spec("ok", f"{demo}/")
    job = ExecutorJob(run_id="r-job", spec=spec, browser="chromium")

    result = _execute_on_a_worker_thread(job, settings)

    assert (result.status, result.run_id, result.case_id, result.browser) == (
        "passed", "r-job", "ok", "chromium",
    )  # fmt: skip
    # The same job in a guarded run: the demo on loopback is refused where it connects
    guarded = job.model_copy(update={"network": NetworkOptions(guarded=True)})
    refused = _execute_on_a_worker_thread(guarded, settings)
    assert refused.status == "failed"
    assert "refused: 127.0.0.1 is a loopback address" in (refused.error or "")
