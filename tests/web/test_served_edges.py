"""What `matf serve` answers before Flask does, which forwarded headers it believes, what it makes.

Two real servers run side by side, as two instances on one machine would,
with the same home and runtime directories: one reached directly
(``MATF_PROXY_COUNT=0``), one behind one proxy (``MATF_PROXY_COUNT=1``).
Requests come from 127.0.0.1, the address gunicorn trusts by default.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.served import Answer, Served

LIMIT = 1000


@dataclass
class Pair:
    root: Path
    direct: Served
    proxied: Served


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("served")
    run = root / "home" / "run"
    run.mkdir(parents=True, mode=0o700)
    shared = {"HOME": str(root / "home"), "XDG_RUNTIME_DIR": str(run)}
    shared["RATE_LIMIT"] = f"{LIMIT} per minute"
    direct = Served(root / "direct", MATF_PROXY_COUNT="0", **shared).start()
    try:
        proxied = Served(root / "proxied", MATF_PROXY_COUNT="1", **shared).start()
    except BaseException:
        direct.stop()
        raise
    yield Pair(root, direct, proxied)
    direct.stop()
    proxied.stop()


# -- gunicorn's own refusals ---------------------------------------------------------------

HOST = b"Host: 127.0.0.1\r\n"
LOGIN = b"POST /api/v1/auth/login HTTP/1.1\r\n" + HOST


def _get(*headers: bytes, target: bytes = b"/health") -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\n"
        + HOST
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


REFUSED = {
    "long-run-id": (_get(target=b"/api/v1/runs/" + b"a" * 5000), 414, "request line"),
    "large-bearer-token": (_get(b"Authorization: Bearer " + b"a" * 20_000), 431, "header"),
    "too-many-headers": (_get(*(b"X-H%d: v" % i for i in range(150))), 431, "header"),
    "garbage-request-line": (b"GARBAGE\r\n\r\n", 400, "request line"),
    "long-garbage-line": (b"\x01" + b"x" * 3000 + b"\r\n\r\n", 400, "request line"),
    "bad-method": (b"G@T /health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "method"),
    "bad-version": (b"GET /health HTTP/7.1\r\n" + HOST + b"\r\n", 400, "version"),
    "nul-in-a-header": (_get(b"X-A: a\x00b"), 400, "header"),
    "bad-header-name": (_get(b"X A: b"), 400, "header"),
    "folded-header": (_get(b"X-A: a", b" b"), 400, "folding"),
    "unmet-expectation": (_get(b"Expect: teapot"), 417, "expectation"),
    "bad-content-length": (LOGIN + b"Content-Length: abc\r\n\r\n", 400, "CONTENT-LENGTH"),
    "two-content-lengths": (
        LOGIN + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
        "CONTENT-LENGTH",
    ),
    "length-and-chunked": (
        LOGIN + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "CONTENT-LENGTH",
    ),
    "compressed-not-chunked": (LOGIN + b"Transfer-Encoding: gzip\r\n\r\n", 400, "TRANSFER"),
    "unknown-transfer-coding": (
        LOGIN + b"Transfer-Encoding: x-matf, chunked\r\n\r\n0\r\n\r\n",
        400,
        "transfer coding",
    ),
}


def _assert_problem(answer: Answer, status: int, words: str = "") -> None:
    assert answer.status == status, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/problem+json", answer.body[:300]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    body = answer.json()
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    detail = body["detail"]
    assert detail and "\n" not in detail and "\x01" not in detail and len(detail) <= 200
    assert words.lower() in detail.lower()


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_gunicorn_refuses_is_a_problem_document(servers: Pair, case: str) -> None:
    request, status, words = REFUSED[case]
    _assert_problem(servers.direct.raw(request), status, words)
    assert "Traceback" not in servers.direct.log()


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2;a=\x01\r\n{}\r\n0\r\n\r\n"],
    ids=["bad-chunk-size", "missing-terminator", "bad-extension"],
)
def test_a_malformed_chunked_body_is_a_bad_request(servers: Pair, chunks: bytes) -> None:
    # Given a chunked body that breaks only once the view reads it
    request = LOGIN + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = servers.direct.raw(request + chunks)
    _assert_problem(answer, 400, "chunk")
    assert "internal error" not in servers.direct.log()


# -- forwarded headers ---------------------------------------------------------------------


def test_forwarded_proto_from_loopback_turns_on_nothing_without_a_proxy(servers: Pair) -> None:
    for proto in ({"X-Forwarded-Proto": "https"}, {"X-Forwarded-Ssl": "on"}):
        response = httpx.get(f"{servers.direct.url}/api/v1/runs", headers=proto)
        assert response.status_code == 401
        assert "Strict-Transport-Security" not in response.headers


def test_forwarded_proto_is_honoured_behind_one_proxy(servers: Pair) -> None:
    tls = httpx.get(f"{servers.proxied.url}/health", headers={"X-Forwarded-Proto": "https"})
    plain = httpx.get(f"{servers.proxied.url}/health", headers={"X-Forwarded-Proto": "http"})
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in plain.headers


def _remaining(server: Served, client: str) -> int:
    response = httpx.get(f"{server.url}/api/v1/runs", headers={"X-Forwarded-For": client})
    assert response.status_code == 401
    return int(response.headers["X-RateLimit-Remaining"])


def test_rate_limit_counts_the_socket_peer_without_a_proxy(servers: Pair) -> None:
    # Given three requests that each claim another client address
    seen = [_remaining(servers.direct, f"198.51.100.{i}") for i in (1, 2, 3)]
    # Then all three count against the one real peer
    assert seen[0] > seen[1] > seen[2]


def test_rate_limit_counts_the_forwarded_client_behind_one_proxy(servers: Pair) -> None:
    seen = [_remaining(servers.proxied, f"203.0.113.{i}") for i in (1, 2, 3)]
    assert seen == [LIMIT - 1] * 3


@pytest.mark.parametrize("which", ["direct", "proxied"])
def test_a_script_name_header_from_loopback_changes_no_path(servers: Pair, which: str) -> None:
    server: Served = getattr(servers, which)
    answer = server.raw(_get(b"SCRIPT_NAME: /elsewhere", b"Connection: close"))
    assert answer.status == 200, answer.body[:300]
    assert answer.json()["status"] == "ok"


# -- what the servers leave behind ---------------------------------------------------------


def test_two_servers_share_no_control_socket(servers: Pair) -> None:
    # Given two servers running at once with the same home and runtime directories
    assert servers.direct.proc is not None and servers.direct.proc.poll() is None
    assert servers.proxied.proc is not None and servers.proxied.proc.poll() is None
    # Then neither made a control socket anywhere, shared or not
    sockets = [p for p in servers.root.rglob("*") if stat.S_ISSOCK(p.lstat().st_mode)]
    assert sockets == []
