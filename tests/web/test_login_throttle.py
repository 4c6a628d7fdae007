"""Signing in is throttled per account and per address, and the login form carries a CSRF token.

Servers are real (werkzeug on loopback), Redis is real. Time never passes in
these tests: each server's throttle reads a ``Clock`` the test moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from matf.errors import TooManyAttempts
from matf.throttle import LocalCounts, LoginThrottle, Policy, RedisCounts
from tests.apiserver import PASSWORD, ApiServer, login_csrf
from tests.conftest import server_settings
from tests.services import RedisServer

LOGIN = "/api/v1/auth/login"
WRONG = "not the password at all"


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class _Replica(ApiServer):
    """A second server of the same deployment: the accounts exist already."""

    def _make_accounts(self, secret: str) -> None:
        return None


def _start(server: ApiServer, clock: Clock) -> ApiServer:
    server.start()
    assert server.app is not None
    throttle = server.app.config.get("MATF_LOGIN_THROTTLE")
    if throttle is not None:
        throttle.now = clock
    return server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(tmp_path: Path, clock: Clock) -> Iterator[ApiServer]:
    settings = server_settings(tmp_path, login_account_failures=5, login_address_failures=12)
    api = _start(ApiServer(settings), clock)
    yield api
    api.stop()


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN, json={"email": email, "password": password})


def _assert_throttled(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == str(retry_after)
    assert response.json()["detail"] == f"too many failed sign-ins: try again in {retry_after} s"
    assert "access_token" not in response.text


# -- one account -------------------------------------------------------------------------


def test_twenty_wrong_passwords_then_the_right_one_is_refused_until_the_wait_ends(
    server: ApiServer, clock: Clock
) -> None:
    with server.client() as client:
        # Given twenty wrong passwords in a row
        wrong = [_login(client, "viewer@example.com", WRONG) for _ in range(20)]
        # When the right one comes during the wait
        right = _login(client, "viewer@example.com", PASSWORD)
        # Then it is refused too, with when to come back; and served once that has passed
        clock.advance(1)
        after_wait = _login(client, "viewer@example.com", PASSWORD)
    assert [r.status_code for r in wrong] == [401] * 5 + [429] * 15
    _assert_throttled(right, 1)
    assert after_wait.status_code == 200, after_wait.text


def test_an_unknown_account_is_answered_exactly_as_a_known_one(
    server: ApiServer, clock: Clock
) -> None:
    def attempts(email: str) -> list[httpx.Response]:
        with server.client() as client:
            answers = [_login(client, email, WRONG) for _ in range(5)]
            answers += [_login(client, email, WRONG), _login(client, email, PASSWORD)]
            return answers

    known, unknown = attempts("viewer@example.com"), attempts("nobody@example.com")
    for mine, theirs in zip(known, unknown, strict=True):
        assert mine.status_code == theirs.status_code
        assert mine.content == theirs.content
        assert _headers(mine) == _headers(theirs)
    assert [r.status_code for r in known] == [401] * 5 + [429, 429]
    _assert_throttled(unknown[-1], 1)


def _headers(response: httpx.Response) -> dict[str, str]:
    """Headers but the date, the CSP's nonce and the general rate limit's own counters.

    flask-limiter puts its window's reset in every answer's Retry-After; a
    refused sign-in's is the throttle's, so it is compared there.
    """
    general = ("date", "content-security-policy")
    if response.status_code != 429:
        general += ("retry-after",)
    return {
        name: value
        for name, value in response.headers.items()
        if name not in general and not name.startswith("x-ratelimit")
    }


def test_the_waits_double_and_end_at_the_cap() -> None:
    clock = Clock()
    throttle = LoginThrottle(Policy(3, 100, 1.0, 10.0, 60.0), LocalCounts(), clock)
    waits = []
    for _ in range(3):
        throttle.begin("Someone@Example.com ", "10.0.0.1")
    for _ in range(6):
        with pytest.raises(TooManyAttempts) as refused:
            throttle.begin("someone@example.com", "10.0.0.2")
        waits.append(refused.value.retry_after_s)
        clock.advance(refused.value.retry_after_s)
        throttle.begin("someone@example.com", "10.0.0.3")
    assert waits == [1, 2, 4, 8, 10, 10]
    # And a quiet window after the last wait forgets the failures
    clock.advance(10 + 60)
    for _ in range(3):
        throttle.begin("someone@example.com", "10.0.0.4")


def test_a_success_forgets_the_accounts_failures(server: ApiServer) -> None:
    with server.client() as client:
        # Given four failures, then the right password
        first = [_login(client, "editor@example.com", WRONG) for _ in range(4)]
        success = _login(client, "editor@example.com", PASSWORD)
        # Then the account counts from zero again: five more failures before it must wait
        second = [_login(client, "editor@example.com", WRONG) for _ in range(6)]
    assert [r.status_code for r in first] == [401] * 4
    assert success.status_code == 200
    assert [r.status_code for r in second] == [401] * 5 + [429]


# -- one address -------------------------------------------------------------------------


def test_one_address_is_throttled_across_many_accounts(server: ApiServer) -> None:
    with server.client() as client:
        # Given an address that tried twelve accounts, once each
        spread = [_login(client, f"user{n}@example.com", WRONG) for n in range(12)]
        # When it tries a thirteenth, or an account's right password
        fresh = _login(client, "someone.else@example.com", WRONG)
        right = _login(client, "admin@example.com", PASSWORD)
    assert [r.status_code for r in spread] == [401] * 12
    _assert_throttled(fresh, 1)
    _assert_throttled(right, 1)


# -- shared counts -----------------------------------------------------------------------


def test_servers_sharing_redis_share_the_counts(
    redis_url: str, tmp_path: Path, clock: Clock
) -> None:
    # Given two servers of one deployment on one Redis (a database of their own)
    url = redis_url.rsplit("/", 1)[0] + "/8"
    store = redis.Redis.from_url(url)
    store.flushdb()
    settings = server_settings(tmp_path, redis_url=url, login_account_failures=5)
    first = _start(ApiServer(settings), clock)
    second = _start(_Replica(settings), clock)
    try:
        # When a client spreads its guesses over both
        answers = [
            httpx.post(server.url + LOGIN, json={"email": "admin@example.com", "password": WRONG})
            for server in (first, second, first, second, first, second, first)
        ]
        stored = [key.decode() for key in store.scan_iter("matf:login:*")]
    finally:
        second.stop()
        first.stop()
        store.close()
    # Then they counted together, in Redis, and no e-mail is kept there in clear
    assert [r.status_code for r in answers] == [401] * 5 + [429, 429]
    assert stored and not [key for key in stored if "example.com" in key]


def test_redis_gone_mid_test_counts_in_the_process_and_never_answers_500(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    private = RedisServer(tmp_path)
    settings = server_settings(tmp_path, redis_url=private.url, login_account_failures=5)
    server = _start(ApiServer(settings), clock)
    try:
        with server.client() as client:
            # Given failures counted in Redis
            before = [_login(client, "viewer@example.com", WRONG) for _ in range(3)]
            # When Redis goes away
            private.shutdown("nosave")
            with caplog.at_level(logging.WARNING, logger="matf.throttle"):
                after = [_login(client, "viewer@example.com", WRONG) for _ in range(6)]
                right = _login(client, "viewer@example.com", PASSWORD)
    finally:
        server.stop()
        private.stop()
    # Then sign-in still answers, throttled by this process's own counts, and says why
    assert [r.status_code for r in before] == [401] * 3
    assert [r.status_code for r in after] == [401] * 5 + [429]
    _assert_throttled(right, 1)
    assert any("Redis is unreachable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("store", ["local", "redis"])
def test_a_burst_cannot_pass_the_check_before_the_failures_are_counted(
    store: str, redis_url: str
) -> None:
    # Attempts are counted before the password is judged: six begun, none ended yet
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/9")
    client.flushdb()
    counts = LocalCounts() if store == "local" else RedisCounts(client)
    throttle = LoginThrottle(Policy(5, 100), counts, Clock())
    started = [throttle.begin("victim@example.com", "10.0.0.1") for _ in range(5)]
    with pytest.raises(TooManyAttempts):
        throttle.begin("victim@example.com", "10.0.0.2")
    # And a success among them forgets the account's failures
    started[0].succeeded()
    assert throttle.begin("victim@example.com", "10.0.0.1") is not None
    client.close()


# -- the dashboard's form ----------------------------------------------------------------


def _form(email: str, password: str, token: str | None) -> dict[str, Any]:
    form = {"email": email, "password": password, "next": "/"}
    if token is not None:
        form["csrf_token"] = token
    return form


def test_the_login_form_needs_its_csrf_token(server: ApiServer) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        shown = browser.get("/login")
        token = login_csrf(shown)
        # Given a form posted without its token, with another's, or with none at all
        missing = browser.post("/login", data=_form("viewer@example.com", PASSWORD, None))
        wrong = browser.post("/login", data=_form("viewer@example.com", PASSWORD, "0" * 64))
        with httpx.Client(base_url=server.url, follow_redirects=False) as other:
            other_token = login_csrf(other.get("/login"))
        foreign = browser.post("/login", data=_form("viewer@example.com", PASSWORD, other_token))
        # When it comes with its own token, then it signs in
        signed_in = browser.post("/login", data=_form("viewer@example.com", PASSWORD, token))
    with httpx.Client(base_url=server.url, follow_redirects=False) as cookieless:
        forged = cookieless.post("/login", data=_form("viewer@example.com", PASSWORD, token))
    assert "matf_login_csrf" in shown.cookies
    for refused in (missing, wrong, foreign, forged):
        assert refused.status_code == 400, refused.text
        assert "text/html" in refused.headers["content-type"]
        assert "did not come from this site" in refused.text
        assert login_csrf(refused)  # the form again, ready to post
        assert "matf_session" not in refused.cookies
    assert signed_in.status_code == 302
    assert "matf_session" in signed_in.cookies


def test_the_login_form_says_when_to_try_again(server: ApiServer) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        token = login_csrf(browser.get("/login"))
        wrong = [
            browser.post("/login", data=_form("viewer@example.com", WRONG, token)) for _ in range(5)
        ]
        right = browser.post("/login", data=_form("viewer@example.com", PASSWORD, token))
    assert [r.status_code for r in wrong] == [401] * 5
    assert right.status_code == 429
    assert right.headers["Retry-After"] == "1"
    assert "too many failed sign-ins: try again in 1 s" in right.text
    assert "matf_session" not in right.cookies
