"""A run's model budget: one rule for the writer, one ledger for what spends after it.

``--max-llm-calls`` and ``--max-tokens`` cap a whole run. The writer spends
first, in one task, and keeps its own count (``matf.ai.writer``, by
``Allowance.refusal``, the same rule the ledgers apply); what is left
is then shared by the run's executors, which heal UI drift in parallel, on
many workers. They draw from one ledger per run:

* in embedded mode every executor is a thread of one process: a dict under a
  lock is the whole shared state;
* with ``REDIS_URL`` set, one Redis hash per run, checked and counted by one
  Lua script so two workers can never both take the last call.

A call is reserved before it is made (so a budget of N calls never starts an
(N+1)th) and its tokens are counted when it answers; the token cap, like the
writer's, stops new calls once the run's tokens reach it. Retries inside one
call (``Completion.attempts``) are counted as they happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis

from matf.errors import EnvironmentProblem
from matf.llm.gateway import LlmError

if TYPE_CHECKING:
    from matf.llm.gateway import Completion
    from matf.settings import Settings

KEY_PREFIX = "matf:llm:run:"
KEY_TTL_S = 7 * 24 * 3600  # a run's ledger outlives any run


class BudgetSpent(LlmError):
    """The run's model budget allows no further call."""


@dataclass(frozen=True)
class Allowance:
    """A run's caps, and what its writer already spent of them."""

    max_calls: int | None = None
    max_tokens: int | None = None
    spent_calls: int = 0
    spent_tokens: int = 0

    @property
    def capped(self) -> bool:
        return self.max_calls is not None or self.max_tokens is not None

    def refusal(self, calls: int, tokens: int) -> str | None:
        """Why one more call may not start after ``calls``/``tokens`` spent since writing."""
        if self.max_calls is not None and self.spent_calls + calls + 1 > self.max_calls:
            return self.calls_spent
        if self.max_tokens is not None and self.spent_tokens + tokens >= self.max_tokens:
            return self.tokens_spent
        return None

    @property
    def calls_spent(self) -> str:
        return f"the run's budget of {self.max_calls} model calls is spent"

    @property
    def tokens_spent(self) -> str:
        return f"the run's budget of {self.max_tokens} tokens is spent"


class Ledger(Protocol):
    """What a run has spent since writing, shared by its executors."""

    def reserve(self, run_id: str, allowance: Allowance) -> str | None:
        """Count one call for ``run_id`` if ``allowance`` permits; else why not."""
        ...

    def spend(self, run_id: str, calls: int, tokens: int) -> None:
        """Add ``calls`` more (retries past the reserved one) and ``tokens``."""
        ...


class LocalLedger:
    """One process's ledger: embedded mode runs every executor as a thread here."""

    def __init__(self) -> None:
        self._spent: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def reserve(self, run_id: str, allowance: Allowance) -> str | None:
        with self._lock:
            spent = self._spent.setdefault(run_id, [0, 0])
            reason = allowance.refusal(spent[0], spent[1])
            if reason is None:
                spent[0] += 1
            return reason

    def spend(self, run_id: str, calls: int, tokens: int) -> None:
        with self._lock:
            spent = self._spent.setdefault(run_id, [0, 0])
            spent[0] += calls
            spent[1] += tokens

    def spent(self, run_id: str) -> tuple[int, int]:
        with self._lock:
            calls, tokens = self._spent.get(run_id, [0, 0])
            return calls, tokens


# Check and count in one step. ARGV: max calls (-1: none), max tokens (-1: none),
# calls and tokens the writer spent, the key's time to live. Returns 0 when the
# call is counted, 1 when the call cap refuses it, 2 when the token cap does.
_RESERVE_LUA = """
local calls = tonumber(redis.call('HGET', KEYS[1], 'calls') or '0')
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local max_calls = tonumber(ARGV[1])
local max_tokens = tonumber(ARGV[2])
if max_calls >= 0 and tonumber(ARGV[3]) + calls + 1 > max_calls then return 1 end
if max_tokens >= 0 and tonumber(ARGV[4]) + tokens >= max_tokens then return 2 end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 0
"""


class RedisLedger:
    """The same ledger in Redis, for executors on many workers."""

    def __init__(self, client: redis.Redis, *, prefix: str = KEY_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisLedger:
        return cls(redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5))

    def reserve(self, run_id: str, allowance: Allowance) -> str | None:
        args = [
            -1 if allowance.max_calls is None else allowance.max_calls,
            -1 if allowance.max_tokens is None else allowance.max_tokens,
            allowance.spent_calls,
            allowance.spent_tokens,
            KEY_TTL_S,
        ]
        try:
            verdict = int(self._reserve(keys=[self._prefix + run_id], args=args))
        except (redis.RedisError, OSError) as exc:
            raise EnvironmentProblem(
                f"Redis is unreachable for the run's model budget: {type(exc).__name__}"
            ) from exc
        return {0: None, 1: allowance.calls_spent, 2: allowance.tokens_spent}[verdict]

    def spend(self, run_id: str, calls: int, tokens: int) -> None:
        key = self._prefix + run_id
        try:
            with self._client.pipeline() as pipe:
                pipe.hincrby(key, "calls", calls)
                pipe.hincrby(key, "tokens", tokens)
                pipe.expire(key, KEY_TTL_S)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise EnvironmentProblem(
                f"Redis is unreachable for the run's model budget: {type(exc).__name__}"
            ) from exc

    def spent(self, run_id: str) -> tuple[int, int]:
        found = self._client.hgetall(self._prefix + run_id)
        return int(found.get(b"calls", 0)), int(found.get(b"tokens", 0))


_ledgers: dict[str, Ledger] = {}
_ledgers_lock = threading.Lock()


def ledger(settings: Settings) -> Ledger:
    """The ledger this process shares: Redis-backed when ``REDIS_URL`` is set."""
    key = settings.redis_url or ""
    with _ledgers_lock:
        found = _ledgers.get(key)
        if found is None:
            found = RedisLedger.from_url(key) if key else LocalLedger()
            _ledgers[key] = found
        return found


def budgeted(
    ask: Callable[[list[dict[str, str]]], Completion],
    ledger: Ledger,
    run_id: str,
    allowance: Allowance,
) -> Callable[[list[dict[str, str]]], Completion]:
    """``ask`` that first takes a call from the run's budget; ``BudgetSpent`` when none is left."""
    if not allowance.capped:
        return ask

    def ask_within_budget(messages: list[dict[str, str]]) -> Completion:
        reason = ledger.reserve(run_id, allowance)
        if reason is not None:
            raise BudgetSpent(reason)
        completion = ask(messages)
        ledger.spend(
            run_id,
            max(completion.attempts - 1, 0),
            completion.prompt_tokens + completion.completion_tokens,
        )
        return completion

    return ask_within_budget
