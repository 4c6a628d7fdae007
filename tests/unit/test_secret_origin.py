"""A secret goes to its target's origin and nowhere else, whatever the spec says.

A suite is edited by people who may not read its secrets. A spec that types a
secret into another site's page, sends it in a request to another site, or
sends it to a same-origin URL that redirects elsewhere must fail without the
value ever arriving there. Real Chromium, one real HTTP server reached under
two origins (``127.0.0.1`` and ``localhost``: same socket, different origins),
which records everything it is sent.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.browser.pool import BrowserPool
from matf.results import TestResult
from matf.spec import parse_spec
from tests.services import LoopbackHttpServer, QuietHandler

LIMITS = ExecutionLimits(test_timeout_ms=20_000, step_timeout_ms=5_000, retries=1)
SECRET = f"origin-secret-{secrets.token_hex(8)}"

FORM = b"""<!doctype html><html lang="en"><head><title>Sign in</title></head><body><main>
<form method="post" action="/post"><label for="pw">Password</label>
<input id="pw" name="pw" type="password"><button>Sign in</button></form></main></body></html>"""


class RecordingSite(LoopbackHttpServer):
    """Serves a sign-in form and a JSON API; keeps every request as (host, path, headers+body)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._record(b"")
                self.answer(200, "text/html", FORM)

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                self._record(self.rfile.read(length))
                if self.path == "/bounce":  # 307: the client sends the same body to the next hop
                    port = site.port
                    self.send_response(307)
                    self.send_header("Location", f"http://localhost:{port}/api")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.answer(200, "application/json", b'{"ok": true}')

            def _record(self, body: bytes) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                with lock:
                    site.seen.append((host, self.path, str(self.headers) + body.decode()))

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
        self.elsewhere = f"http://localhost:{self.port}"

    def received_secret(self, host: str) -> bool:
        return any(SECRET in text for seen_host, _path, text in self.seen if seen_host == host)


@pytest.fixture
def site() -> Iterator[RecordingSite]:
    with RecordingSite() as running:
        yield running


def _run(
    site: RecordingSite, steps: list[dict[str, object]], pool: BrowserPool, tmp: Path
) -> TestResult:
    spec = parse_spec({"id": "t", "name": "t", "url": site.url, "steps": steps})
    env = Environment(pool, LIMITS, tmp, secrets={"PW": SECRET})
    return run_test(spec, "chromium", "r-origin", env)


def _sign_in_at(base: str) -> list[dict[str, object]]:
    return [
        {"action": "goto", "url": f"{base}/form"},
        {"action": "fill", "target": {"label": "Password"}, "value": "{{secret:PW}}"},
        {"action": "click", "target": {"role": "button", "name": "Sign in"}},
    ]


def test_a_secret_is_typed_into_its_own_sites_page(
    site: RecordingSite, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _run(site, _sign_in_at(site.url), pool, tmp_path)
    assert result.status == "passed", result.error
    assert site.received_secret("127.0.0.1")  # the control: the value does reach its site


def test_a_secret_is_never_typed_into_another_sites_page(
    site: RecordingSite, pool: BrowserPool, tmp_path: Path
) -> None:
    result = _run(site, _sign_in_at(site.elsewhere), pool, tmp_path)
    assert result.status == "failed" and result.attempts == 1  # conclusive: no retry
    assert f"refused to send secret PW to http://localhost:{site.port}" in (result.error or "")
    assert not site.received_secret("localhost")
    assert [step.status for step in result.steps] == ["passed", "failed", "skipped"]


def test_a_secret_is_never_sent_in_a_request_to_another_site(
    site: RecordingSite, pool: BrowserPool, tmp_path: Path
) -> None:
    steps: list[dict[str, object]] = [
        {
            "action": "api_request",
            "method": "POST",
            "url": f"{site.elsewhere}/api",
            "headers": {"Authorization": "Bearer {{secret:PW}}"},
            "body": {"password": "{{secret:PW}}"},
        }
    ]
    result = _run(site, steps, pool, tmp_path)
    assert result.status == "failed" and "refused to send secret PW" in (result.error or "")
    assert site.seen == []  # not even a request without the value


def test_a_request_carrying_a_secret_follows_no_redirect(
    site: RecordingSite, pool: BrowserPool, tmp_path: Path
) -> None:
    steps: list[dict[str, object]] = [
        {
            "action": "api_request",
            "method": "POST",
            "url": "/bounce",
            "body": {"password": "{{secret:PW}}"},
        }
    ]
    result = _run(site, steps, pool, tmp_path)
    assert result.status == "failed"
    assert "HTTP 307" in (result.error or "") and "follows no redirect" in (result.error or "")
    assert site.received_secret("127.0.0.1") and not site.received_secret("localhost")


def test_a_request_without_a_secret_still_follows_redirects(
    site: RecordingSite, pool: BrowserPool, tmp_path: Path
) -> None:
    steps: list[dict[str, object]] = [
        {"action": "api_request", "method": "POST", "url": "/bounce", "body": {"q": "public"}}
    ]
    result = _run(site, steps, pool, tmp_path)
    assert result.status == "passed", result.error
    assert [(host, path) for host, path, _ in site.seen] == [
        ("127.0.0.1", "/bounce"),
        ("localhost", "/api"),
    ]
