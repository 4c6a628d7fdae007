"""A run's model budget after writing: one ledger per run, shared by its executors.

Both ledgers are driven the way executors drive them: many threads reserving
at once (the Redis one through a real redis-server), so a cap of N calls must
grant exactly N whatever the interleaving.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from matf.llm.budget import KEY_PREFIX, Allowance, BudgetSpent, LocalLedger, RedisLedger, budgeted
from matf.llm.gateway import Completion
from matf.options import AiOptions, RunOptions
from matf.pipeline.fanout import ExecutorJob, plan_fan_out
from matf.spec import parse_spec

Ledger = LocalLedger | RedisLedger


@pytest.fixture(params=["local", "redis"])
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    if request.param == "local":
        yield LocalLedger()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield RedisLedger(client, prefix=f"test:budget:{request.node.name}:")
    client.close()


def _reserve_together(
    ledger: Ledger, run_id: str, allowance: Allowance, tries: int
) -> list[str | None]:
    """``tries`` reservations from as many threads, released at the same moment."""
    start = threading.Barrier(tries)
    verdicts: list[str | None] = []
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        verdict = ledger.reserve(run_id, allowance)
        with lock:
            verdicts.append(verdict)

    threads = [threading.Thread(target=one) for _ in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return verdicts


def test_concurrent_executors_get_exactly_what_the_writer_left(ledger: Ledger) -> None:
    allowance = Allowance(max_calls=10, spent_calls=7)  # the writer took 7 of 10
    verdicts = _reserve_together(ledger, "r-1", allowance, 12)
    assert verdicts.count(None) == 3
    assert set(verdicts) - {None} == {"the run's budget of 10 model calls is spent"}
    assert ledger.spent("r-1") == (3, 0)
    # Another run's ledger is its own.
    assert ledger.reserve("r-2", allowance) is None
    assert ledger.spent("r-2") == (1, 0)


def test_tokens_stop_new_calls_once_the_run_reaches_its_cap(ledger: Ledger) -> None:
    allowance = Allowance(max_tokens=1_000, spent_tokens=600)
    assert ledger.reserve("r-t", allowance) is None
    ledger.spend("r-t", 0, 399)
    assert ledger.reserve("r-t", allowance) is None  # 999 of 1000: one more may start
    ledger.spend("r-t", 1, 50)  # it answered after a retry
    assert ledger.reserve("r-t", allowance) == "the run's budget of 1000 tokens is spent"
    assert ledger.spent("r-t") == (3, 449)


def test_a_writer_that_spent_everything_leaves_nothing(ledger: Ledger) -> None:
    assert ledger.reserve("r-0", Allowance(max_calls=4, spent_calls=4)) is not None
    assert ledger.reserve("r-0", Allowance(max_tokens=10, spent_tokens=10)) is not None
    assert ledger.spent("r-0") == (0, 0)


def test_the_redis_ledger_expires_with_time(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        RedisLedger(client).reserve("r-ttl", Allowance(max_calls=2))
        assert 0 < client.ttl(KEY_PREFIX + "r-ttl") <= 7 * 24 * 3600
    finally:
        client.delete(KEY_PREFIX + "r-ttl")
        client.close()


def test_an_unreachable_redis_is_one_line_not_a_traceback() -> None:
    from matf.errors import EnvironmentProblem

    broken = RedisLedger(redis.Redis(port=1, socket_connect_timeout=0.5))
    with pytest.raises(
        EnvironmentProblem, match="^Redis is unreachable for the run's model budget"
    ):
        broken.reserve("r-x", Allowance(max_calls=1))


def _completion(attempts: int = 1) -> Completion:
    return Completion("{}", 120, 30, "mistral-large-latest", attempts, 5.0)


def test_budgeted_asks_count_every_attempt_and_refuse_without_calling() -> None:
    ledger = LocalLedger()
    sent: list[Any] = []

    def ask(messages: list[dict[str, str]]) -> Completion:
        sent.append(messages)
        return _completion(attempts=2)  # one retry

    capped = budgeted(ask, ledger, "r-b", Allowance(max_calls=5, spent_calls=1))
    capped([{"role": "user", "content": "a"}])
    capped([{"role": "user", "content": "b"}])
    assert ledger.spent("r-b") == (4, 300)  # 2 calls of 2 attempts, 150 tokens each
    with pytest.raises(BudgetSpent, match="budget of 5 model calls is spent"):
        capped([{"role": "user", "content": "c"}])
    assert len(sent) == 2  # the refused one never left


def test_an_uncapped_run_asks_directly() -> None:
    def ask(messages: list[dict[str, str]]) -> Completion:
        return _completion()

    assert budgeted(ask, LocalLedger(), "r-u", Allowance()) is ask


def test_a_runs_allowance_comes_from_its_options_and_its_writers_spending() -> None:
    spec = parse_spec(
        {
            "id": "t",
            "name": "t",
            "url": "http://127.0.0.1:1/",
            "steps": [{"action": "goto", "url": "/"}],
        }
    )
    capped = RunOptions(ai=AiOptions(max_calls=12, max_tokens=50_000))
    spent = {"calls": 6, "prompt_tokens": 9_000, "completion_tokens": 1_500}
    [job] = plan_fan_out("r-a", capped, [spec], writer_usage=spent)
    assert job.heal is not None and job.heal.budget == Allowance(12, 50_000, 6, 10_500)
    # It travels in the executor's message as JSON and comes back the same
    again = ExecutorJob.model_validate(json.loads(json.dumps(job.model_dump(mode="json"))))
    assert again.heal == job.heal
    [uncapped] = plan_fan_out("r-b", RunOptions(), [spec], writer_usage=spent)
    assert uncapped.heal is not None and uncapped.heal.budget is None
