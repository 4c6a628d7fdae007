"""The one door to Mistral: rate-limited, retried, logged without the prompt.

Every call the AI test writer makes goes through ``MistralGateway.complete``,
so the policy lives in one place:

* a shared rate limit (``MISTRAL_RATE_PER_MINUTE``): in embedded mode one
  sliding window per process, in distributed mode one window in Redis that all
  writer workers draw from, so N workers do not multiply the account's rate;
* our own retry loop rather than the SDK's, so each retry also takes a
  rate-limit slot, honours ``Retry-After``, is counted (``Completion.attempts``)
  and logged; 429, 5xx, timeouts, lost connections and (once) a malformed
  answer retry with capped exponential backoff and jitter, any other 4xx fails
  at once because sending the same request again cannot help;
* errors are one line naming the status and the endpoint host: never the API
  key, never the prompt, which may carry a customer's page content.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import redis

from matf.errors import EnvironmentProblem, MatfError
from matf.settings import Settings

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger("matf.ai")

DEFAULT_SERVER_URL = "https://api.mistral.ai"  # the SDK's own default ("global" server)
WINDOW_S = 60.0
REDIS_KEY = "matf:llm:requests"
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
MALFORMED_RETRIES = 1  # a garbled answer is worth one more try, not the full budget


class LlmError(MatfError):
    """Mistral did not give a usable answer: refused, failed, or kept failing."""

    http_status = 502  # an upstream failed us


class LlmUnavailable(LlmError):
    """No Mistral API key is configured, so the AI writer cannot run at all."""

    http_status = 503  # a server-side configuration gap, like ConfigError


@dataclass(frozen=True)
class Completion:
    """The assistant's text and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str  # the model that answered, as Mistral names it
    attempts: int  # HTTP requests it took, retries included
    duration_ms: float  # the caller's wait: every attempt, rate-limit and backoff sleep


# -- rate limiting -------------------------------------------------------------


class RateLimiter(Protocol):
    """Grants one request at a time within the configured rate."""

    def acquire(self) -> None:
        """Block until one request may go."""
        ...


class LocalRateLimiter:
    """At most ``limit`` requests per sliding ``window_s`` in this process.

    Embedded mode runs the writers as threads of one process, so a deque of
    grant times under a lock is the whole shared state. ``clock`` and ``sleep``
    are injectable so tests can check the waits without waiting.
    """

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._granted: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._granted and self._granted[0] <= now - self.window_s:
                    self._granted.popleft()
                if len(self._granted) < self.limit:
                    self._granted.append(now)
                    return
                wait = self._granted[0] + self.window_s - now
            # Sleep outside the lock: another thread may find a slot meanwhile,
            # and we simply check again.
            self._sleep(max(wait, 0.001))


# Trim, count and (when there is room) record one grant atomically, so two
# workers can never both take the last slot. ``now`` is an argument, not Redis
# TIME, so tests can drive a fake clock; workers' clocks must agree to within
# a small fraction of the window (NTP does). Returns {granted, wait seconds};
# the wait is a string because Redis truncates Lua numbers to integers.
_ACQUIRE_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


class RedisRateLimiter:
    """The same sliding window, shared by every worker through one Redis sorted set.

    Members are unique grant ids scored by grant time; a full window blocks the
    caller by sleeping until its oldest entry leaves, then asking again.
    """

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        *,
        window_s: float = WINDOW_S,
        key: str = REDIS_KEY,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window_s = window_s
        self.key = key
        self._clock = clock
        self._sleep = sleep
        self._script = client.register_script(_ACQUIRE_LUA)

    @classmethod
    def from_url(cls, url: str, limit: int, **options: Any) -> RedisRateLimiter:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        return cls(client, limit, **options)

    def acquire(self) -> None:
        while True:
            args: list[str | int] = [
                repr(self._clock()),
                repr(self.window_s),
                self.limit,
                uuid.uuid4().hex,
            ]
            try:
                granted, wait = self._script(keys=[self.key], args=args)
            except (redis.RedisError, OSError) as exc:
                raise EnvironmentProblem(
                    f"Redis is unreachable for the Mistral rate limit: {type(exc).__name__}"
                ) from exc
            if int(granted):
                return
            self._sleep(max(float(wait), 0.001))


_limiters: dict[tuple[str, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter every gateway of this process shares for these settings.

    Redis-backed when ``REDIS_URL`` is set (distributed workers), else one
    process-wide local window; cached so that all gateways draw from the same one.
    """
    key = (settings.redis_url or "", settings.mistral_rate_per_minute)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            if settings.redis_url:
                limiter = RedisRateLimiter.from_url(
                    settings.redis_url, settings.mistral_rate_per_minute
                )
            else:
                limiter = LocalRateLimiter(settings.mistral_rate_per_minute)
            _limiters[key] = limiter
        return limiter


# -- the gateway ---------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, reduced to what the retry loop and the log need."""

    label: str  # "HTTP 503", "timeout", "malformed answer": never a body
    retryable: bool
    malformed: bool = False
    retry_after_s: float | None = None
    reason: str = ""  # Mistral's short error message, for a refusal only


class _Malformed(Exception):
    """A 200 whose content is not a chat completion we can use."""


class MistralGateway:
    """Sends chat completions to Mistral under MATF's rate limit and retry policy."""

    def __init__(
        self,
        settings: Settings,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.mistral_api_key:
            raise LlmUnavailable("MISTRAL_API_KEY is not set")
        self._settings = settings
        self._key = settings.mistral_api_key
        self._limiter = limiter if limiter is not None else rate_limiter(settings)
        self._sleep = sleep
        server_url = settings.mistral_server_url or DEFAULT_SERVER_URL
        parts = urlsplit(server_url)
        # hostname and port only: a proxy URL may carry credentials.
        self.host = parts.hostname or server_url
        if parts.port:
            self.host = f"{self.host}:{parts.port}"
        from mistralai.client import Mistral  # a second of imports: only where a key is set

        self._client = Mistral(
            api_key=self._key,
            server_url=server_url,
            timeout_ms=settings.mistral_timeout_ms,
            retry_config=None,  # our loop retries, so each retry is rate-limited and counted
        )

    def close(self) -> None:
        """Close the HTTP connections the SDK client holds."""
        self._client.__exit__(None, None, None)

    def complete(self, messages: list[dict[str, str]], *, json_mode: bool = True) -> Completion:
        """One chat completion; raises LlmError once the retries are spent.

        ``json_mode`` asks Mistral for a JSON object (``response_format``); the
        caller still validates what comes back.
        """
        settings = self._settings
        attempts_allowed = settings.mistral_retries + 1
        started = time.monotonic()
        malformed_seen = 0
        attempt = 0
        while True:
            attempt += 1
            self._limiter.acquire()
            sent = time.monotonic()
            try:
                response = self._client.chat.complete(
                    model=settings.mistral_model,
                    messages=cast(Any, messages),
                    temperature=settings.mistral_temperature,
                    max_tokens=settings.mistral_max_tokens,
                    response_format={"type": "json_object"} if json_mode else None,
                    retries=None,
                )
                text = _text_of(response)
            except Exception as exc:  # classified below; what is not Mistral's is re-raised
                failure = self._classify(exc)
                if failure is None:
                    raise
            else:
                usage = response.usage
                completion = Completion(
                    text=text,
                    prompt_tokens=usage.prompt_tokens or 0,
                    completion_tokens=usage.completion_tokens or 0,
                    model=response.model or settings.mistral_model,
                    attempts=attempt,
                    duration_ms=(time.monotonic() - started) * 1000,
                )
                log.info(
                    "mistral attempt %d/%d to %s: HTTP 200 in %.0f ms, tokens %d+%d",
                    attempt,
                    attempts_allowed,
                    self.host,
                    (time.monotonic() - sent) * 1000,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                )
                return completion

            log.warning(
                "mistral attempt %d/%d to %s: %s in %.0f ms",
                attempt,
                attempts_allowed,
                self.host,
                failure.label,
                (time.monotonic() - sent) * 1000,
            )
            if failure.malformed:
                malformed_seen += 1
            retry = (
                failure.retryable
                and attempt < attempts_allowed
                and (not failure.malformed or malformed_seen <= MALFORMED_RETRIES)
            )
            if not retry:
                raise LlmError(self._message(failure, attempt))
            self._sleep(_delay(attempt, failure.retry_after_s))

    def _classify(self, exc: Exception) -> _Failure | None:
        """Map what the SDK raised to a failure; None for what is not Mistral's doing."""
        import httpx2
        from mistralai.client import errors as mistral_errors

        if isinstance(exc, _Malformed):
            return _Failure("malformed answer", retryable=True, malformed=True)
        if isinstance(exc, mistral_errors.MistralError):
            status = exc.status_code
            if status < 300:  # a 200 the SDK could not parse (ResponseValidationError)
                return _Failure("malformed answer", retryable=True, malformed=True)
            label = f"HTTP {status}"
            if status == 429 or status >= 500:
                return _Failure(label, retryable=True, retry_after_s=_retry_after(exc.headers))
            return _Failure(label, retryable=False, reason=self._reason(exc.body))
        if isinstance(exc, httpx2.TimeoutException):
            return _Failure("timeout", retryable=True)
        if isinstance(exc, httpx2.TransportError | mistral_errors.NoResponseError):
            return _Failure(f"connection error ({type(exc).__name__})", retryable=True)
        return None

    def _reason(self, body: str) -> str:
        """Mistral's error message, short and on one line, with the key blanked out.

        Only the ``message`` field of Mistral's error object: validation details
        (422 ``detail``) can echo the request, so they are left out.
        """
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            return ""
        if not isinstance(message, str):
            return ""
        message = " ".join(message.split()).replace(self._key, "***")
        return message[:160]

    def _message(self, failure: _Failure, attempts: int) -> str:
        if not failure.retryable:
            reason = f": {failure.reason}" if failure.reason else ""
            return f"Mistral refused the request ({failure.label} from {self.host}){reason}"
        tries = "attempt" if attempts == 1 else "attempts"
        return (
            f"Mistral gave no usable answer after {attempts} {tries}: "
            f"last {failure.label} from {self.host}"
        )


def _text_of(response: Any) -> str:
    """The assistant's text, or _Malformed when a 200 carries none."""
    if not response.choices:
        raise _Malformed("no choices")
    content = response.choices[0].message.content
    if isinstance(content, list):  # content chunks: keep the text ones
        content = "".join(getattr(chunk, "text", "") or "" for chunk in content)
    if not isinstance(content, str) or not content:
        raise _Malformed("no content")
    return content


def _retry_after(headers: httpx2.Headers) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or bad."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _delay(attempt: int, retry_after_s: float | None) -> float:
    """Seconds to wait before the next attempt.

    Mistral's ``Retry-After`` wins when given (capped, so a bad header cannot
    park a worker); otherwise exponential backoff from 1 s, capped at 30 s, with
    "equal jitter" (half fixed, half random) so workers that failed together do
    not retry together.
    """
    if retry_after_s is not None:
        return min(retry_after_s, BACKOFF_CAP_S)
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
