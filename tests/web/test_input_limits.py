"""No input makes the server answer 500: bodies read with limits, ``next`` kept on the origin.

A real server (werkzeug on loopback) answers raw bytes sent by httpx, as an
attacker would send them; each answer is a one-line problem document, and
nothing is logged as an internal error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.apiserver import PASSWORD, ApiServer, login_csrf
from tests.conftest import server_settings
from web.bodies import MAX_DEPTH

LOGIN = "/api/v1/auth/login"
EXECUTE = "/api/v1/tests/execute"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    api = ApiServer(server_settings(tmp_path_factory.mktemp("limits"))).start()
    yield api
    api.stop()


def _assert_problem(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert words in detail and "\n" not in detail


def _no_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "role"), [(LOGIN, None), (EXECUTE, "editor")])
def test_deeply_nested_json_is_a_bad_request_not_a_crash(
    server: ApiServer, caplog: pytest.LogCaptureFixture, path: str, role: str | None
) -> None:
    # Given a body nested 1,000 deep, past the parser's recursion
    deep = b'{"url": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    with server.client(role) as client:
        response = client.post(path, content=deep, headers=JSON)
        # Then one past the limit is refused too, and the limit itself is not
        over = client.post(
            path, content=b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), headers=JSON
        )
        at = client.post(path, content=b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, headers=JSON)
    _assert_problem(response, 400, f"nested deeper than {MAX_DEPTH}")
    _assert_problem(over, 400, f"nested deeper than {MAX_DEPTH}")
    assert at.status_code == 422  # parsed, then refused by the model: not an object
    _no_internal_error(caplog)


def test_a_body_over_the_size_limit_is_too_large(server: ApiServer) -> None:
    limit = 8 * 1024 * 1024
    big = b'{"email": "' + b"a" * limit + b'", "password": "x"}'
    with server.client() as client:
        response = client.post(LOGIN, content=big, headers=JSON)
    _assert_problem(response, 413, f"too large: at most {limit} bytes")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"email": "\xff\xfe", "password": "x"}', "not UTF-8"),
        (b'{"email": "\xed\xa0\x80@example.com", "password": "x"}', "not UTF-8"),
        (b'{"email": "\\ud800@example.com", "password": "x"}', "lone surrogate"),
        (b'{"email": "a\\u0000@example.com", "password": "x"}', "NUL"),
        (b'{"email": "a@example.com", "password": "x\\udc00"}', "lone surrogate"),
        (b'{"\\u0000": 1}', "NUL"),
        (b'{"email": ', "not valid JSON"),
    ],
    ids=[
        "invalid-utf8",
        "encoded-surrogate",
        "escaped-surrogate",
        "nul",
        "in-password",
        "key",
        "cut",
    ],
)
def test_a_body_that_is_not_clean_utf8_json_is_a_bad_request(
    server: ApiServer, caplog: pytest.LogCaptureFixture, body: bytes, words: str
) -> None:
    with server.client() as client:
        response = client.post(LOGIN, content=body, headers=JSON)
    _assert_problem(response, 400, words)
    _no_internal_error(caplog)


def test_limits_are_in_the_document(server: ApiServer) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
    for path in (LOGIN, EXECUTE):
        assert {"400", "413"} <= set(document["paths"][path]["post"]["responses"])


# -- the dashboard's next ----------------------------------------------------------------


def _sign_in(server: ApiServer, target: str) -> httpx.Response:
    form = {"email": "viewer@example.com", "password": PASSWORD, "next": target}
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        shown = client.get("/login", params={"next": target})
        assert shown.status_code == 200
        return client.post("/login", data={**form, "csrf_token": login_csrf(shown)})


@pytest.mark.parametrize(
    "target",
    [
        "/\n/x",
        "/\r\nSet-Cookie: a=b",
        "/\t/evil.example",
        "/\x00/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        " //evil.example",
        "",
    ],
    ids=[
        "newline",
        "crlf",
        "tab",
        "nul",
        "slashes",
        "backslash",
        "backslash-first",
        "scheme",
        "javascript",
        "space",
        "empty",
    ],
)
def test_next_that_would_leave_the_origin_goes_home(server: ApiServer, target: str) -> None:
    response = _sign_in(server, target)
    assert response.status_code == 302
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("target", ["/runs", "/runs?status=failed&page=2", "/runs/r-1#steps"])
def test_a_local_next_is_kept(server: ApiServer, target: str) -> None:
    response = _sign_in(server, target)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location == target
    assert not urlsplit(location).netloc
