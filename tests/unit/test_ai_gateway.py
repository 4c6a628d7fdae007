"""The Mistral gateway: the real SDK against a local Mistral, and the shared rate limit.

No test patches the SDK: ``FakeMistral`` answers over HTTP as Mistral does,
and ``MISTRAL_SERVER_URL`` points the client at it. Backoff sleeps are recorded
instead of slept; only the timeout test waits (two 1 s timeouts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from matf.llm.gateway import (
    BACKOFF_CAP_S,
    REDIS_KEY,
    Completion,
    LlmError,
    LlmUnavailable,
    LocalRateLimiter,
    MistralGateway,
    RedisRateLimiter,
    rate_limiter,
)
from matf.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.mistral_server import FakeMistral

KEY = "test-key-5f1c9e"
MESSAGES = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": "secret prompt about the customer's checkout page"},
]


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Unlimited:
    """A limiter that counts its grants: every attempt must take one."""

    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self) -> None:
        self.acquired += 1


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


def settings_for(tmp_path: Path, fake: FakeMistral, **overrides: object) -> Settings:
    values: dict[str, object] = {"mistral_api_key": KEY, "mistral_server_url": fake.url}
    values.update(overrides)
    return make_settings(tmp_path, **values)


def gateway(settings: Settings, sleeps: list[float] | None = None) -> MistralGateway:
    record = sleeps if sleeps is not None else []
    return MistralGateway(settings, limiter=Unlimited(), sleep=record.append)


def test_a_good_answer_returns_text_and_usage_and_sends_the_settings(
    tmp_path: Path, fake: FakeMistral
) -> None:
    fake.reply('{"tests": []}', prompt_tokens=123, completion_tokens=45)
    limiter = Unlimited()
    result = MistralGateway(settings_for(tmp_path, fake), limiter=limiter).complete(MESSAGES)

    assert isinstance(result, Completion)
    assert result.text == '{"tests": []}'
    assert (result.prompt_tokens, result.completion_tokens) == (123, 45)
    assert result.model == "mistral-large-latest"
    assert result.attempts == 1 and limiter.acquired == 1
    assert result.duration_ms > 0
    [(headers, body)] = fake.requests
    assert headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "mistral-large-latest"
    assert body["temperature"] == 0.1
    assert body["max_tokens"] == 4000
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"] == MESSAGES


def test_text_mode_sends_no_response_format(tmp_path: Path, fake: FakeMistral) -> None:
    fake.reply("plain words")
    result = gateway(settings_for(tmp_path, fake)).complete(MESSAGES, json_mode=False)
    assert result.text == "plain words"
    assert "response_format" not in fake.requests[0][1]


def test_429_is_retried_after_the_retry_after_mistral_asks_for(
    tmp_path: Path, fake: FakeMistral, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail(429, retry_after=7).reply('{"ok": true}')
    sleeps: list[float] = []
    with caplog.at_level(logging.INFO, logger="matf.ai"):
        result = gateway(settings_for(tmp_path, fake), sleeps).complete(MESSAGES)

    assert result.text == '{"ok": true}' and result.attempts == 2
    assert sleeps == [7.0]
    assert len(fake.requests) == 2
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2 and "HTTP 429" in lines[0] and "tokens 10+5" in lines[1]
    assert not any("secret prompt" in line or KEY in line for line in lines)


def test_a_huge_retry_after_is_capped(tmp_path: Path, fake: FakeMistral) -> None:
    fake.fail(503, retry_after=3600).reply("{}")
    sleeps: list[float] = []
    gateway(settings_for(tmp_path, fake), sleeps).complete(MESSAGES)
    assert sleeps == [BACKOFF_CAP_S]


def test_5xx_retries_with_backoff_then_fails_with_one_line(
    tmp_path: Path, fake: FakeMistral
) -> None:
    for _ in range(4):
        fake.fail(500)
    sleeps: list[float] = []
    limiter = Unlimited()
    settings = settings_for(tmp_path, fake, mistral_retries=3)
    with pytest.raises(LlmError) as caught:
        MistralGateway(settings, limiter=limiter, sleep=sleeps.append).complete(MESSAGES)

    assert len(fake.requests) == 4 and limiter.acquired == 4
    message = str(caught.value)
    assert "\n" not in message and "HTTP 500" in message and "127.0.0.1" in message
    assert KEY not in message and "secret prompt" not in message
    assert caught.value.http_status == 502
    # exponential with equal jitter: [0.5, 1], [1, 2], [2, 4]
    assert len(sleeps) == 3
    for n, slept in enumerate(sleeps):
        assert 2**n / 2 <= slept <= 2**n


def test_a_400_fails_at_once_with_mistrals_reason(tmp_path: Path, fake: FakeMistral) -> None:
    fake.fail(400, message="Invalid model: mistral-huge").reply("{}")
    sleeps: list[float] = []
    with pytest.raises(LlmError) as caught:
        gateway(settings_for(tmp_path, fake), sleeps).complete(MESSAGES)
    assert len(fake.requests) == 1 and sleeps == []
    assert "HTTP 400" in str(caught.value) and "Invalid model" in str(caught.value)


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_malformed_answer_is_retried_once_then_fails(
    tmp_path: Path, fake: FakeMistral, content_type: str
) -> None:
    fake.malformed(content_type).malformed(content_type).reply("{}")
    with pytest.raises(LlmError) as caught:
        gateway(settings_for(tmp_path, fake, mistral_retries=3)).complete(MESSAGES)
    assert len(fake.requests) == 2
    assert "malformed" in str(caught.value)


def test_one_malformed_answer_then_a_good_one_succeeds(tmp_path: Path, fake: FakeMistral) -> None:
    fake.malformed().reply('{"fine": 1}')
    result = gateway(settings_for(tmp_path, fake)).complete(MESSAGES)
    assert result.text == '{"fine": 1}' and result.attempts == 2


def test_a_slow_answer_times_out_and_is_retried(tmp_path: Path, fake: FakeMistral) -> None:
    fake.slow(2, then="{}").slow(2, then="{}")
    settings = settings_for(tmp_path, fake, mistral_timeout_ms=1000, mistral_retries=1)
    with pytest.raises(LlmError) as caught:
        gateway(settings).complete(MESSAGES)
    assert len(fake.requests) == 2
    assert "timeout" in str(caught.value)


def test_a_refused_connection_is_retried_then_fails(tmp_path: Path) -> None:
    with FakeMistral() as gone:
        url = gone.url
    settings = make_settings(
        tmp_path, mistral_api_key=KEY, mistral_server_url=url, mistral_retries=1
    )
    sleeps: list[float] = []
    with pytest.raises(LlmError) as caught:
        MistralGateway(settings, limiter=Unlimited(), sleep=sleeps.append).complete(MESSAGES)
    assert "connection error" in str(caught.value) and len(sleeps) == 1


def test_no_key_means_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(LlmUnavailable, match="MISTRAL_API_KEY is not set"):
        MistralGateway(make_settings(tmp_path), limiter=Unlimited())


def test_the_environment_points_the_client_at_another_server(
    tmp_path: Path, fake: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_SERVER_URL", fake.url)
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    fake.responder = lambda request: json.dumps({"echo": request["messages"][-1]["role"]})
    # read from the environment, as a deployment sets them (make_settings pins them off)
    result = gateway(load_settings(_env_file=None)).complete(MESSAGES)
    assert result.text == '{"echo": "user"}'


def test_the_fake_answers_other_paths_with_404(fake: FakeMistral) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{fake.url}/v1/models", timeout=5)
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["object"] == "error"


# -- rate limiting -------------------------------------------------------------


def test_local_limiter_blocks_the_fourth_request_until_the_window_frees() -> None:
    clock = FakeClock(0.0)
    limiter = LocalRateLimiter(3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
        clock.now += 1
    assert clock.sleeps == []
    limiter.acquire()  # t=3: the first grant (t=0) leaves the window at t=60
    assert clock.sleeps == [57.0]
    limiter.acquire()  # t=60: the t=1 grant is still in, so wait until t=61
    assert clock.sleeps == [57.0, 1.0]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete(REDIS_KEY)
    yield client
    client.delete(REDIS_KEY)
    client.close()


def test_redis_limiter_is_one_window_for_every_worker(
    redis_url: str, redis_client: redis.Redis
) -> None:
    clock = FakeClock(1000.0)
    # two workers: their own connections, one shared clock so the test is deterministic
    worker_a = RedisRateLimiter.from_url(redis_url, 2, clock=clock, sleep=clock.sleep)
    worker_b = RedisRateLimiter.from_url(redis_url, 2, clock=clock, sleep=clock.sleep)
    worker_a.acquire()
    clock.now += 1
    worker_b.acquire()
    clock.now += 1
    assert clock.sleeps == []
    assert redis_client.zcard(REDIS_KEY) == 2

    worker_a.acquire()  # t=1002: full until the t=1000 grant leaves at t=1060
    assert clock.sleeps == [pytest.approx(58.0)]
    assert redis_client.zcard(REDIS_KEY) == 2  # the old grant trimmed, the new one in
    assert 0 < redis_client.pttl(REDIS_KEY) <= 60_000


def test_rate_limiter_is_shared_per_process_and_redis_backed_when_distributed(
    tmp_path: Path, redis_url: str
) -> None:
    local = make_settings(tmp_path, mistral_rate_per_minute=7)
    assert isinstance(rate_limiter(local), LocalRateLimiter)
    assert rate_limiter(local) is rate_limiter(make_settings(tmp_path, mistral_rate_per_minute=7))
    shared = rate_limiter(make_settings(tmp_path, redis_url=redis_url))
    assert isinstance(shared, RedisRateLimiter) and shared.key == "matf:llm:requests"
