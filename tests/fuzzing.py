"""What the fuzz of tests/web/test_api_fuzz.py sends: attacks on one API operation each.

Each attack takes an operation (its path, parameters and a valid body) and
returns requests that differ from a valid one in one hostile way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.apiserver import PASSWORD

REFUSED_TARGET = "http://10.255.255.1/"  # no run may start: the guard refuses it
JSON = "application/json"
DEEP = (1_000, 100_000)
HUGE = 1_000_000

# A test spec with a step of most kinds, locators and a secret: nested fields to break
SPEC: dict[str, Any] = {
    "id": "home",
    "name": "Home",
    "steps": [
        {"action": "goto", "url": "/", "expect_status": "2xx", "wait_until": "load"},
        {"action": "click", "target": {"role": "button", "name": "Buy", "nth": 0}},
        {"action": "fill", "target": {"label": "Password"}, "value": "{{secret:login}}"},
        {"action": "press", "target": {"test_id": "q"}, "key": "Enter"},
        {"action": "expect_status", "url": "/api", "status": "2xx", "content_type": "text/"},
        {"action": "expect_text", "target": {"css": "h1"}, "text": "Shop"},
    ],
}
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
    "POST /api/v1/suites": {"name": "Fuzz", "target": "https://shop.example.com/", "tests": [SPEC]},
    "PATCH /api/v1/suites/{suite_id}/cases/{case_id}": {"spec": SPEC, "enabled": True},
    "POST /api/v1/tests/execute": {
        "url": REFUSED_TARGET,
        "types": ["functional", "visual"],
        "browsers": ["chromium"],
        "max_pages": 5,
        "device": "Pixel 7",
        "video": False,
        "budgets": {"lcp_ms": 2500, "cls": None},
        "masks": [".ad"],
        "viewports": [[1280, 720]],
        "baseline_set": "main",
        "heal": True,
        "ai": {"enabled": False, "goals": ["buy"], "max_llm_calls": 5, "max_tokens": 1000},
    },
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
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59.999999+14:00",
    "2026-01-01T00:00:00+25:00",
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


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value: each key of an object, each item of an array."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _leaves(item, (*path, index))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return copy


def nested_wrong_values(op: Op) -> list[Probe]:
    """Each place inside a valid body (steps, locators, options) given each wrong value."""
    if op.body is None:
        return []
    probes = []
    for path in _leaves(op.body):
        for value in WRONG_VALUES:
            body = _replaced(op.body, path, value)
            probes.append(Probe(op, op.url(), json.dumps(body).encode()))
        inner = _at(op.body, path)
        if isinstance(inner, dict):  # an unknown key beside the known ones
            body = _replaced(op.body, path, {**inner, "\x1b[0m": 1})
            probes.append(Probe(op, op.url(), json.dumps(body).encode()))
    for place in _leaves(op.body):
        probes.extend(Probe(op, op.url(), _raw_at(op.body, place, t)) for t in RAW_NUMBERS[::2])
    return probes


def _raw_at(body: Any, path: tuple[Any, ...], token: str) -> bytes:
    marker = "@@RAW@@"
    return json.dumps(_replaced(body, path, marker)).replace(f'"{marker}"', token).encode()


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


def odd_methods(op: Op) -> list[Probe]:
    """Other methods on the operation's path, those no server implements included.

    No DELETE: the path names real resources, which the later attacks still need.
    """
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]
    body = json.dumps(_body(op)).encode()
    probes = [Probe(op, op.url(), body, method=m) for m in methods if m != op.method]
    probes.append(Probe(op, op.url(), body, headers={"X-HTTP-Method-Override": "DELETE"}))
    return probes


ATTACKS = [
    deep_nesting,
    huge_strings,
    bad_encodings,
    escaped_text,
    odd_numbers,
    duplicate_keys,
    wrong_types,
    nested_wrong_values,
    bad_content_types,
    empty_and_stray_bodies,
    evil_path_segments,
    evil_query,
    evil_headers,
    odd_methods,
]
