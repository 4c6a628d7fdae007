"""No input earns a 5xx: every operation of /openapi.json, sent what an attacker would send.

A hand-written fuzz, no generator: each attack (deep nesting, huge strings,
invalid or overlong UTF-8, UTF-16, lone surrogates, NUL and other control
characters, odd numbers, duplicate keys, wrong types, bad content types,
hostile headers and path segments) goes to every operation the live document
lists, as admin so that every operation reads its input. Each answer must be
below 500, and every 4xx under /api/ a problem document with a ``detail``;
nothing may be logged as an internal error. The server runs with production
settings (real secrets, ``MATF_ENV=production``), so no development shortcut
hides a failure.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from matf.secrets.keyring import generate_key
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import server_settings

REFUSED_TARGET = "http://10.255.255.1/"  # no run may start: the guard refuses it
JSON = "application/json"
DEEP = (1_000, 100_000)
HUGE = 1_000_000

# A valid body for each operation that takes one: the attacks change one thing at a time.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/users": {"email": "fuzz@example.com", "password": PASSWORD, "name": "F"},
    "PATCH /api/v1/users/{user_id}": {"name": "Fuzzed"},
    "POST /api/v1/keys": {"name": "fuzz key", "role": "viewer"},
    "PUT /api/v1/secrets": {
        "origin": "https://shop.example.com",
        "name": "login",
        "value": {"username": "u", "password": "p"},
    },
    "POST /api/v1/auth/login": {"email": "admin@example.com", "password": "wrong password"},
    "POST /api/v1/suites": {
        "name": "Fuzz",
        "target": "https://shop.example.com/",
        "tests": [{"id": "home", "name": "Home", "steps": [{"action": "goto", "url": "/"}]}],
    },
    "PATCH /api/v1/suites/{suite_id}/cases/{case_id}": {"enabled": False},
    "POST /api/v1/tests/execute": {"url": REFUSED_TARGET, "types": ["functional"]},
    "PUT /api/v1/budgets": {"url": "https://shop.example.com/", "budgets": {"lcp_ms": 2500}},
}
PATH_VALUES = {"integer": "1", "string": "x"}

# Path segments, sent percent-encoded as they are (httpx leaves %XX alone)
EVIL_SEGMENTS = [
    "%00",
    "%0a",
    "%0d",
    "%09",
    "%5c",
    "%0d%0aX-Injected:%201",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e",
    "%ff%fe",  # not UTF-8
    "%c0%af",  # overlong "/"
    "%ed%a0%80",  # a surrogate encoded as UTF-8
    "%f4%90%80%80",  # past U+10FFFF
    "%e2%80%ae",  # right-to-left override
    "x" * 5_000,
    "18446744073709551616",
    "-1",
    "-0",
    "1e999",
    "0x10",
    "%20",
]
EVIL_QUERY_VALUES = [
    "%00",
    "%0a",
    "%ff",
    "%c0%af",
    "%ed%a0%80",
    "x" * 20_000,
    "18446744073709551616",
    "-9223372036854775809",
    "1e999",
    "NaN",
    "-0",
    "",
    "%5c%5c",
    "2026-13-45T99:99:99",
    "[]",
]
# Each replaces one field of a valid body
WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**64,
    -(2**63) - 1,
    1.5,
    "",
    "x",
    "\x01\x1b[31m\x7f",
    [],
    [None],
    {},
    {"$ref": "#"},
    "x" * 100_000,
]
# Raw JSON number tokens put in place of a field's value
RAW_NUMBERS = ["1e999", "-1e999", "-0", "-0.0", "18446744073709551616", "1E-400", "NaN", "Infinity"]


@dataclass
class Op:
    """One operation of the document, with what it takes."""

    method: str
    path: str
    path_params: dict[str, str]
    query: list[str]
    body: dict[str, Any] | None
    fields: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **segments: str) -> str:
        url = self.path
        for name, default in self.path_params.items():
            url = url.replace("{" + name + "}", segments.get(name, default))
        return url


@dataclass
class Probe:
    """One request of an attack."""

    op: Op
    url: str
    content: bytes | None = None
    content_type: str | None = JSON
    params: list[tuple[str, str | int | float | bool | None]] | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    auth: bool = True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Production settings: real secrets, no allowed private target, a limit out of the way."""
    settings = server_settings(
        tmp_path_factory.mktemp("fuzz"),
        matf_env="production",
        jwt_secret=secrets.token_urlsafe(48),
        encryption_key=generate_key(),
        matf_allowed_targets="",
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def operations(server: ApiServer) -> list[Op]:
    document = httpx.get(server.url + "/openapi.json", timeout=30).json()
    ops = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            params = spec.get("parameters", [])
            path_params = {
                p["name"]: PATH_VALUES.get(p["schema"].get("type"), "x")
                for p in params
                if p["in"] == "path"
            }
            query = [p["name"] for p in params if p["in"] == "query"]
            op = Op(method.upper(), path, path_params, query, None)
            if "requestBody" in spec:
                op.body = VALID_BODIES[op.key]  # a new body operation needs a valid body here
                ref = spec["requestBody"]["content"][JSON]["schema"]["$ref"].rsplit("/", 1)[1]
                op.fields = list(document["components"]["schemas"][ref]["properties"])
            ops.append(op)
    assert len(ops) >= 40
    return ops


def _send(client: httpx.Client, probe: Probe, token: str) -> httpx.Response:
    headers: dict[str, Any] = {}
    if probe.auth:
        headers["Authorization"] = f"Bearer {token}"
    if probe.content_type is not None and probe.content is not None:
        headers["Content-Type"] = probe.content_type
    headers.update(probe.headers)
    return client.request(
        probe.method or probe.op.method,
        probe.url,
        content=probe.content,
        params=probe.params,
        headers=headers,
    )


def _verdict(probe: Probe, response: httpx.Response) -> str | None:
    """Why this answer is wrong, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:200]}"
    if 400 <= status < 500 and probe.op.path.startswith("/api/"):
        kind = response.headers.get("content-type", "")
        if kind != "application/problem+json":
            return f"{status} as {kind!r}: {response.text[:200]}"
        if not response.json().get("detail"):
            return f"{status} without a detail"
    return None


def _run(server: ApiServer, ops: list[Op], attack: Callable[[Op], list[Probe]]) -> int:
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for op in ops:
            for probe in attack(op):
                response = _send(client, probe, server.tokens["admin"])
                sent += 1
                wrong = _verdict(probe, response)
                if wrong is not None:
                    shown = (probe.content or b"")[:80]
                    failures.append(
                        f"{probe.method or op.method} {probe.url[:120]} {probe.params!r:.120} "
                        f"{probe.headers!r:.120} {probe.content_type} {shown!r}: {wrong}"
                    )
    assert failures == [], "\n".join(failures)
    return sent


def _body(op: Op, **changes: Any) -> dict[str, Any]:
    return {**(op.body or {}), **changes}


def _raw(op: Op, name: str, token: str) -> bytes:
    """The valid body with ``name``'s value replaced by the raw JSON text ``token``."""
    marker = "@@RAW@@"
    return json.dumps(_body(op, **{name: marker})).replace(f'"{marker}"', token).encode()


def _targets(op: Op) -> list[str]:
    """The fields an attack changes: the body's own, or one a body-less operation ignores."""
    return op.fields or ["extra"]


# -- the attacks: each returns the requests for one operation -----------------------------


def deep_nesting(op: Op) -> list[Probe]:
    probes = []
    for depth in DEEP:
        for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
            inner = opening * depth + b"1" + closing * depth
            probes.append(Probe(op, op.url(), inner))
            name = _targets(op)[0]
            probes.append(Probe(op, op.url(), _raw(op, name, inner.decode())))
    return probes


def huge_strings(op: Op) -> list[Probe]:
    big = "x" * HUGE
    probes = [Probe(op, op.url(), _raw(op, name, json.dumps(big))) for name in _targets(op)]
    probes.append(Probe(op, op.url(), json.dumps({big: 1}).encode()))
    return probes


def bad_encodings(op: Op) -> list[Probe]:
    text = json.dumps(_body(op)).encode()
    utf16 = json.dumps(_body(op)).encode("utf-16")  # with a BOM
    bodies = [
        b'{"email": "\xff\xfe"}',
        b'{"name": "\xc0\xaf"}',  # overlong "/"
        b'{"name": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8
        b'{"name": "\xf4\x90\x80\x80"}',
        b"\xef\xbb\xbf" + text,  # a UTF-8 BOM
        utf16,
        json.dumps(_body(op)).encode("utf-16-le"),
        json.dumps(_body(op)).encode("utf-32"),
    ]
    probes = [Probe(op, op.url(), body) for body in bodies]
    probes.append(Probe(op, op.url(), utf16, content_type="application/json; charset=utf-16"))
    probes.append(Probe(op, op.url(), text, content_type="application/json; charset=latin-1"))
    probes.append(Probe(op, op.url(), text, content_type="application/json; charset=bogus"))
    return probes


def escaped_text(op: Op) -> list[Probe]:
    tokens = [
        r'"\ud800"',
        r'"\udfff\ud800"',
        r'"a\u0000b"',
        r'"\u0001\u001b[2J\u007f\u0085\u2028\u2029"',
        '"\t\n\r"',  # raw control characters inside a string: invalid JSON
        r'"\uDBFF\uDFFF"',
        r'"\u202e"',
    ]
    probes: list[Probe] = []
    for name in _targets(op):
        probes.extend(Probe(op, op.url(), _raw(op, name, token)) for token in tokens)
        probes.append(Probe(op, op.url(), ('{"\\ud800' + name + '": "x"}').encode()))  # a key
    return probes


def odd_numbers(op: Op) -> list[Probe]:
    return [
        Probe(op, op.url(), _raw(op, name, token)) for name in _targets(op) for token in RAW_NUMBERS
    ]


def duplicate_keys(op: Op) -> list[Probe]:
    probes = []
    for name in _targets(op):
        text = json.dumps(_body(op))
        twice = text[:-1] + (", " if len(text) > 2 else "") + f'"{name}": [1, {{}}]}}'
        probes.append(Probe(op, op.url(), twice.encode()))
        probes.append(Probe(op, op.url(), (f'{{"{name}": [], ' + text[1:]).encode()))
    return probes


def wrong_types(op: Op) -> list[Probe]:
    probes = [
        Probe(op, op.url(), json.dumps(_body(op, **{name: value})).encode())
        for name in _targets(op)
        for value in WRONG_VALUES
    ]
    wholes: list[Any] = [[], [_body(op)], "text", 1, None, True, {}]
    for whole in wholes:
        probes.append(Probe(op, op.url(), json.dumps(whole).encode()))
    return probes


def bad_content_types(op: Op) -> list[Probe]:
    text = json.dumps(_body(op)).encode()
    kinds = [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",  # no boundary
        "multipart/form-data; boundary=x",
        "application/json; charset",
        "application/json;;;",
        "application/problem+json",
        "application/json\x7f",
        "*/*",
        "",
    ]
    probes = [Probe(op, op.url(), text, content_type=kind) for kind in kinds]
    probes.append(Probe(op, op.url(), b"a=%ff&b=%00", content_type=kinds[1]))
    probes.append(Probe(op, op.url(), b"--x\r\nContent-Disposition: form-data\r\n\r\n", kinds[3]))
    return probes


def empty_and_stray_bodies(op: Op) -> list[Probe]:
    probes = [
        Probe(op, op.url(), b""),
        Probe(op, op.url(), b" "),
        Probe(op, op.url(), b"null"),
        Probe(op, op.url(), b"{"),
        Probe(op, op.url(), b"\x00"),
        Probe(op, op.url(), None, content_type=None),
        Probe(op, op.url(), json.dumps(_body(op)).encode() + b" trailing"),
    ]
    if op.body is None:  # a body where none belongs, GET included
        probes.append(Probe(op, op.url(), b'{"a": 1}'))
        probes.append(Probe(op, op.url(), b"[" * 1000))
    return probes


def evil_path_segments(op: Op) -> list[Probe]:
    return [
        Probe(op, op.url(**{name: segment}), None)
        for name in op.path_params
        for segment in EVIL_SEGMENTS
    ] + [Probe(op, op.path.replace("/api/v1", "/api/v1/%00", 1) if "/api/" in op.path else op.path)]


def evil_query(op: Op) -> list[Probe]:
    names = [*op.query, "extra", ""]
    probes = [
        Probe(op, f"{op.url()}?{name}={value}", None)
        for name in names
        for value in EVIL_QUERY_VALUES
    ]
    probes.append(Probe(op, f"{op.url()}?%ff=%00&&&=&%", None))
    probes.extend(
        Probe(op, op.url(), None, params=[(name, "1"), (name, "x"), (name, "")]) for name in names
    )
    return probes


def evil_headers(op: Op) -> list[Probe]:
    values: list[dict[str, Any]] = [
        {"Authorization": "Bearer " + "a" * 20_000},
        {"Authorization": b"Bearer \xff\xfe\xc0\xaf"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."},
        {"Authorization": "Basic Og=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer\tx\x7f"},
        {"X-API-Key": b"\xff" * 100},
        {"X-API-Key": "matf_" + "x" * 10_000},
        {"Cookie": "session=" + "%ff" * 100},
        {"Cookie": b"session=\xff\xfe; =; ;;"},
        {"X-Forwarded-For": "not-an-address, ::ffff:999.1.1.1"},
        {"X-Forwarded-Proto": "javascript"},
        {"Accept": "application/json;q=x, */*;q=NaN"},
        {"Accept-Encoding": "gzip;q=1e999"},
        {"Accept-Language": b"\xff" * 10},
        {"If-None-Match": '"' * 100},
        {"If-Modified-Since": "Thu, 99 Foo 1e999 25:61:61 GMT"},
        {"Range": "bytes=99999999999999999999-1"},
        {"Origin": "null"},
        {"Host": "[::1"},
        {"X-Request-Id": "\x01" * 10},
    ]
    body = json.dumps(_body(op)).encode() if op.body is not None else None
    probes = [Probe(op, op.url(), body, headers=h, auth="Authorization" not in h) for h in values]
    probes.append(Probe(op, op.url(), body, auth=False))
    return probes


ATTACKS = [
    deep_nesting,
    huge_strings,
    bad_encodings,
    escaped_text,
    odd_numbers,
    duplicate_keys,
    wrong_types,
    bad_content_types,
    empty_and_stray_bodies,
    evil_path_segments,
    evil_query,
    evil_headers,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_no_input_earns_a_server_error(
    server: ApiServer,
    operations: list[Op],
    attack: Callable[[Op], list[Probe]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When the attack goes to every operation of the document
    sent = _run(server, operations, attack)
    # Then each answer was below 500 (a problem if 4xx), and nothing was logged as a crash
    assert sent >= len(operations)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
