"""Sign-in throttling: failed attempts counted per account and per address, answered with a wait.

Every attempt is counted *before* the password is checked (so a burst of
parallel guesses cannot all pass the check before the first failure is
recorded) and given back when it succeeds. Once a counter reaches its
threshold, each further attempt starts a wait that doubles, from
``LOGIN_BACKOFF_BASE`` seconds up to ``LOGIN_BACKOFF_MAX``; an attempt inside a
wait is refused without looking at the password, so the right password during
a lockout is refused too. A success forgets the account's counter (never the
address's: an attacker's own account must not reset their address). Counters
are forgotten ``LOGIN_FAILURE_WINDOW`` seconds after their last attempt's wait.

Accounts are keyed by a digest of the normalised e-mail, whether an account
has it or not, so a refusal says nothing about who exists.

Where the counts live:

* with ``REDIS_URL`` set, one Redis hash per key, checked and counted by one
  Lua script, so every gunicorn worker and every server shares them;
* in embedded mode (one gunicorn process) a dict under a lock.

If Redis does not answer, the attempt is counted in this process instead (and
a warning logged at most once a minute): the throttle keeps holding per
process, and nobody gets a 500 for it. Counts made there stay there.

Time comes from ``now`` (seconds, wall clock, the same on every server), which
tests replace to move time on without waiting.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from matf.errors import TooManyAttempts
from matf.settings import Settings

log = logging.getLogger("matf.throttle")
KEY_PREFIX = "matf:login:"
LOCAL_KEYS = 50_000  # a flood of made-up e-mails must not grow a process without bound


@dataclass(frozen=True)
class Policy:
    """When waits start, how they grow, and when counters are forgotten."""

    account_failures: int = 5
    address_failures: int = 30
    base_s: float = 1.0
    max_wait_s: float = 900.0
    window_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            account_failures=settings.login_account_failures,
            address_failures=settings.login_address_failures,
            base_s=settings.login_backoff_base,
            max_wait_s=settings.login_backoff_max,
            window_s=settings.login_failure_window,
        )

    def wait_s(self, count: int, threshold: int) -> float:
        """The wait the ``count``-th attempt starts: none below ``threshold``, then doubling."""
        if count < threshold:
            return 0.0
        return min(self.base_s * 2.0 ** min(count - threshold, 64), self.max_wait_s)


class Counts(Protocol):
    """Attempt counters keyed by string, shared by whoever shares the store."""

    def take(self, keys: list[tuple[str, int]], now: float, policy: Policy) -> float:
        """Seconds to wait if any key is in a wait; else count one attempt on each, and 0."""
        ...

    def give_back(self, key: str, threshold: int, forget: bool) -> None:
        """Uncount one attempt on ``key`` (or ``forget`` the key altogether)."""
        ...


class LocalCounts:
    """One process's counters: embedded mode serves every request from one process."""

    def __init__(self) -> None:
        # key -> [attempts, wait ends at, forgotten at]
        self._counts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, keys: list[tuple[str, int]], now: float, policy: Policy) -> float:
        with self._lock:
            found = [self._live(key, now) for key, _threshold in keys]
            wait = max((entry[1] - now for entry in found if entry), default=0.0)
            if wait > 0:
                return wait
            self._prune(now)
            for (key, threshold), entry in zip(keys, found, strict=True):
                count = (entry[0] if entry else 0) + 1
                block = policy.wait_s(int(count), threshold)
                until = now + block if block else (entry[1] if entry else 0.0)
                self._counts[key] = [count, until, now + block + policy.window_s]
            return 0.0

    def give_back(self, key: str, threshold: int, forget: bool) -> None:
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                return
            entry[0] -= 1
            if forget or entry[0] <= 0:
                del self._counts[key]
            elif entry[0] < threshold:
                entry[1] = 0.0

    def _live(self, key: str, now: float) -> list[float] | None:
        entry = self._counts.get(key)
        if entry is not None and entry[2] <= now:
            del self._counts[key]
            return None
        return entry

    def _prune(self, now: float) -> None:
        if len(self._counts) < LOCAL_KEYS:
            return
        for key in [k for k, entry in self._counts.items() if entry[2] <= now]:
            del self._counts[key]
        if len(self._counts) >= LOCAL_KEYS:  # all live: keep the half forgotten last
            ordered = sorted(self._counts, key=lambda k: self._counts[k][2])
            for key in ordered[: len(ordered) // 2]:
                del self._counts[key]


# Check every key's wait, then count one attempt on each, in one step.
# ARGV: now, window, base, max wait, then one threshold per key. Returns the
# seconds to wait as a string ("0": counted).
_TAKE_LUA = """
local now = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  local ends = tonumber(redis.call('HGET', key, 'until') or '0')
  if ends - now > wait then wait = ends - now end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local count = redis.call('HINCRBY', key, 'n', 1)
  local threshold = tonumber(ARGV[4 + i])
  local block = 0
  if count >= threshold then
    block = math.min(tonumber(ARGV[3]) * 2 ^ math.min(count - threshold, 64), tonumber(ARGV[4]))
    redis.call('HSET', key, 'until', tostring(now + block))
  end
  redis.call('PEXPIRE', key, math.ceil((block + tonumber(ARGV[2])) * 1000))
end
return '0'
"""

# ARGV: threshold, 1 to forget the key. A count below the threshold ends its wait.
_GIVE_BACK_LUA = """
if ARGV[2] == '1' then return redis.call('DEL', KEYS[1]) end
local count = redis.call('HINCRBY', KEYS[1], 'n', -1)
if count <= 0 then return redis.call('DEL', KEYS[1]) end
if count < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], 'until') end
return count
"""


class RedisCounts:
    """The same counters in Redis, for every worker and server of a deployment."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._take = client.register_script(_TAKE_LUA)
        self._give_back = client.register_script(_GIVE_BACK_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisCounts:
        return cls(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2))

    def take(self, keys: list[tuple[str, int]], now: float, policy: Policy) -> float:
        args: list[str | float] = [repr(now), policy.window_s, policy.base_s, policy.max_wait_s]
        args.extend(threshold for _, threshold in keys)
        return float(self._take(keys=[key for key, _ in keys], args=args))

    def give_back(self, key: str, threshold: int, forget: bool) -> None:
        self._give_back(keys=[key], args=[threshold, 1 if forget else 0])

    def close(self) -> None:
        self._client.close()


class Attempt:
    """One counted sign-in attempt: a failure keeps its count, anything else gives it back."""

    def __init__(
        self, throttle: LoginThrottle, counts: Counts, keys: list[tuple[str, int]]
    ) -> None:
        self._throttle, self._counts, self._keys = throttle, counts, keys

    def succeeded(self) -> None:
        """The password was right: forget the account's failures, uncount the address's."""
        (account, account_threshold), (address, address_threshold) = self._keys
        self._throttle.give_back(self._counts, account, account_threshold, forget=True)
        self._throttle.give_back(self._counts, address, address_threshold, forget=False)

    def abandoned(self) -> None:
        """No password was judged (the server failed): the attempt does not count."""
        for key, threshold in self._keys:
            self._throttle.give_back(self._counts, key, threshold, forget=False)


class LoginThrottle:
    """Counts sign-in attempts per account and per address; ``begin`` refuses during a wait."""

    def __init__(
        self,
        policy: Policy,
        counts: Counts | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.policy, self.now = policy, now
        self._local = LocalCounts()
        self._counts: Counts = counts or self._local
        self._warned_at = -math.inf

    @classmethod
    def for_settings(cls, settings: Settings) -> LoginThrottle:
        counts = RedisCounts.from_url(settings.redis_url) if settings.redis_url else None
        return cls(Policy.from_settings(settings), counts)

    def begin(self, email: str, address: str) -> Attempt:
        """Count an attempt for ``email`` from ``address``; TooManyAttempts while either waits."""
        keys = [
            (account_key(email), self.policy.account_failures),
            (KEY_PREFIX + "addr:" + address[:100], self.policy.address_failures),
        ]
        now = self.now()
        counts = self._counts
        try:
            wait = counts.take(keys, now, self.policy)
        except (redis.RedisError, OSError) as exc:
            self._warn(exc)
            counts = self._local
            wait = counts.take(keys, now, self.policy)
        if wait > 0:
            seconds = max(math.ceil(wait), 1)
            refusal = TooManyAttempts(f"too many failed sign-ins: try again in {seconds} s")
            refusal.retry_after_s = seconds
            raise refusal
        return Attempt(self, counts, keys)

    def give_back(self, counts: Counts, key: str, threshold: int, forget: bool) -> None:
        try:
            counts.give_back(key, threshold, forget)
        except (redis.RedisError, OSError) as exc:
            self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        moment = time.monotonic()
        if moment - self._warned_at >= 60:
            self._warned_at = moment
            log.warning(
                "Redis is unreachable for sign-in throttling (%s): counting in this process",
                type(exc).__name__,
            )


def account_key(email: str) -> str:
    """The counter of an e-mail as sign-in reads it (trimmed, lower case), existing or not."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
    return KEY_PREFIX + "acct:" + digest[:32]
