"""SSRF guard: every way of naming an internal address is refused in a guarded run.

The classifier is tested on literals and /etc/hosts names (no DNS needed); the
browser path in real Chromium through the guard proxy, with an "allowed" site
on 127.0.0.1 and an "internal" one on 127.0.0.2 (Linux routes all of 127/8 to
lo), so a redirect from the one to the other shows that the second hop is
checked where the connection is made, and never reaches the internal server.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from matf.agents.context import check_target
from matf.agents.executor import Environment, ExecutionLimits, run_test
from matf.agents.explore import explore
from matf.browser.guard import context_options, guard_for
from matf.browser.pool import BrowserPool
from matf.errors import ConfigError, TargetForbidden
from matf.netguard import NetworkPolicy, check_host, check_redirects, check_url, parse_literal
from matf.options import NetworkOptions, RunOptions
from matf.pipeline.fanout import ExecutorJob, HealRequest
from matf.spec import parse_spec
from matf.storage.db import get_engine, session_scope
from matf.storage.runs import create_run, save_cases
from tasks.canvas import fan_out

GUARDED = NetworkPolicy.guard()
ALLOW_LOOPBACK_ONE = NetworkPolicy.guard("127.0.0.1/32")
LIMITS = ExecutionLimits(test_timeout_ms=10_000, step_timeout_ms=5_000, retries=0)


class _Site(http.server.ThreadingHTTPServer):
    """A tiny site that records every request; ``/redirect?to=URL`` answers 302."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        self.hits: list[str] = []
        super().__init__((host, 0), _SiteHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{path}"


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<!doctype html><html lang=en><title>site</title><h1>Hello</h1></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def allowed() -> Iterator[_Site]:
    site = _Site("127.0.0.1")
    yield site
    site.shutdown()
    site.server_close()


@pytest.fixture(scope="module")
def internal() -> Iterator[_Site]:
    site = _Site("127.0.0.2")
    yield site
    site.shutdown()
    site.server_close()


# --- the classifier ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("2002:a00:5::", "private"),  # 6to4 of 10.0.0.5
        ("2130706433", "loopback"),  # decimal
        ("0177.0.0.1", "loopback"),  # octal
        ("0x7f000001", "loopback"),  # hex
        ("0x7f.1", "loopback"),
        ("127.1", "loopback"),  # short form
        ("127.0.0.1.", "loopback"),  # trailing dot
        ("０x7f.1", "loopback"),  # full-width digits, folded like the URL standard does
        ("localhost", "loopback"),  # a name that resolves to a loopback address
        ("LOCALHOST.", "loopback"),
    ],
)
def test_every_form_of_an_internal_address_is_refused(host: str, reason: str) -> None:
    with pytest.raises(TargetForbidden, match=reason) as caught:
        check_host(host, 80, GUARDED)
    assert caught.value.message.startswith("refused: ")
    assert "MATF_ALLOWED_TARGETS" in caught.value.message


def test_odd_ipv4_literals_are_read_as_the_connection_reads_them() -> None:
    for text in ("2130706433", "0177.0.0.1", "0x7f000001", "0x7f.1", "127.1"):
        assert str(parse_literal(text)) == "127.0.0.1"
    assert parse_literal("example.com") is None
    assert parse_literal("1.2.3.4.5") is None


@pytest.mark.parametrize(
    "host", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::5db8:d70e"]
)
def test_a_public_address_passes(host: str) -> None:
    assert check_host(host, 443, GUARDED) == [str(parse_literal(host))]


def test_an_unguarded_policy_refuses_nothing() -> None:
    assert check_host("127.0.0.1", 80, NetworkPolicy()) == ["127.0.0.1"]
    assert check_host("169.254.169.254", 80, NetworkPolicy()) == ["169.254.169.254"]


def test_the_allow_list_lets_hosts_and_networks_through() -> None:
    policy = NetworkPolicy.guard("localhost, 10.0.0.0/8, *.corp.example, [::1], 2130706434")
    assert policy.allowed == (
        "localhost",
        "10.0.0.0/8",
        ".corp.example",
        "::1/128",
        "127.0.0.2/32",
    )
    assert check_host("localhost", 80, policy) == ["127.0.0.1"]  # by name
    assert check_host("10.20.30.40", 80, policy) == ["10.20.30.40"]  # by CIDR
    assert check_host("::ffff:10.0.0.1", 80, policy) == ["::ffff:a00:1"]  # the IPv4 inside
    assert check_host("127.0.0.2", 80, policy) == ["127.0.0.2"]
    assert policy.allows_host("intranet.corp.example") and policy.allows_host("corp.example")
    assert not policy.allows_host("corp.example.evil")
    with pytest.raises(TargetForbidden, match="172.16.0.1 is a private address"):
        check_host("172.16.0.1", 80, policy)
    with pytest.raises(TargetForbidden, match="127.0.0.1"):
        check_host("127.0.0.1", 80, policy)  # ::1 and 127.0.0.2 allowed, not the rest of 127/8


def test_a_policy_travels_as_json_and_rejects_junk() -> None:
    policy = NetworkPolicy.guard(["intranet.example", "192.168.0.0/16"])
    stored = NetworkOptions.of(policy).model_dump(mode="json")
    assert stored == {"guarded": True, "allowed": ["intranet.example", "192.168.0.0/16"]}
    assert NetworkOptions.model_validate(stored).policy() == policy
    assert NetworkOptions().policy() == NetworkPolicy() and not NetworkPolicy().guarded
    for junk in ("not a host", "10.0.0.0/33", "http://x.example/"):
        with pytest.raises(ConfigError, match="invalid MATF_ALLOWED_TARGETS"):
            NetworkPolicy.parse_allowed(junk)


def test_a_submitted_url_is_checked_before_the_run_starts() -> None:
    with pytest.raises(TargetForbidden, match="2130706433 means 127.0.0.1"):
        check_url("http://2130706433:8080/admin", GUARDED)
    with pytest.raises(TargetForbidden, match="metadata"):
        check_url("http://169.254.169.254/latest/meta-data/", GUARDED)
    with pytest.raises(TargetForbidden, match="loopback"):
        check_url("https://[::ffff:127.0.0.1]/", GUARDED)
    with pytest.raises(TargetForbidden, match="loopback"):
        check_url("http://%31%32%37.0.0.1/", GUARDED)  # Chromium percent-decodes hosts
    check_url("https://93.184.215.14/", GUARDED)
    check_url("http://127.0.0.1:3000/", NetworkPolicy())  # the CLI's developer case


# --- at submission: the target's redirects, hop by hop ----------------------------


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("INTERNAL", "127.0.0.2 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://10.0.0.5:8080/", "a private address"),
        ("http://0.0.0.0:1/", "an unspecified address"),
    ],
)
def test_a_redirect_into_a_refused_range_is_refused_naming_the_hop(
    allowed: _Site, internal: _Site, to: str, reason: str
) -> None:
    # Given an allowed target (127.0.0.1 is allow-listed) that redirects inside,
    # by way of a second, relative redirect on the same allowed host
    target = internal.url("/from-submission") if to == "INTERNAL" else to
    first_hop = f"/redirect?to={target}"
    url = allowed.url(f"/redirect?to={first_hop}")
    # When the submission's redirects are checked, Then hop 2 is named and refused
    with pytest.raises(TargetForbidden) as caught:
        check_redirects(url, ALLOW_LOOPBACK_ONE)
    message = str(caught.value)
    assert message.startswith(f"target redirects to {target} (hop 2): ")
    assert reason in message and "refused" in message and "\n" not in message
    assert "/from-submission" not in internal.hits  # the refused hop is never fetched


def test_redirects_within_the_allowed_ranges_pass_and_the_policy_covers_every_hop(
    allowed: _Site, internal: _Site
) -> None:
    hop = allowed.url(f"/redirect?to={allowed.url('/landing')}")
    check_redirects(hop, ALLOW_LOOPBACK_ONE)  # raises if refused
    assert "/landing" in allowed.hits
    into_internal = allowed.url(f"/redirect?to={internal.url('/allowed-too')}")
    check_redirects(into_internal, NetworkPolicy.guard("127.0.0.0/8"))
    assert "/allowed-too" in internal.hits
    check_redirects(into_internal, NetworkPolicy())  # unguarded, as the CLI runs: no walk


def test_a_target_that_does_not_answer_is_accepted_as_before() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    check_redirects(f"http://127.0.0.1:{port}/", ALLOW_LOOPBACK_ONE)
    with socket.socket() as silent:  # listens, never answers: the budget ends the walk
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        check_redirects(silent_url(silent), ALLOW_LOOPBACK_ONE, budget_s=0.3)
    with pytest.raises(TargetForbidden, match="127.0.0.2 is a loopback address"):
        check_redirects("http://127.0.0.2:1/", ALLOW_LOOPBACK_ONE)  # the target itself


def silent_url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}/"


# --- check_target (urllib), every hop ------------------------------------------


def test_check_target_refuses_an_internal_target_when_guarded(allowed: _Site) -> None:
    with pytest.raises(TargetForbidden, match="127.0.0.1 is a loopback address"):
        check_target(allowed.url(), timeout_s=5, network=GUARDED)
    assert check_target(allowed.url(), timeout_s=5, network=ALLOW_LOOPBACK_ONE).title == "site"


def test_check_target_refuses_a_redirect_to_an_internal_host(
    allowed: _Site, internal: _Site
) -> None:
    hop = allowed.url(f"/redirect?to={internal.url('/from-check-target')}")
    with pytest.raises(TargetForbidden, match="127.0.0.2 is a loopback address"):
        check_target(hop, timeout_s=5, network=ALLOW_LOOPBACK_ONE)
    assert "/from-check-target" not in internal.hits
    # Unguarded, as the CLI runs, the same redirect is followed.
    assert check_target(hop, timeout_s=5).url == internal.url("/from-check-target")
    assert "/from-check-target" in internal.hits


# --- the browser, through the guard proxy ---------------------------------------


def test_an_unguarded_context_gets_no_proxy_and_starts_none() -> None:
    before = [t for t in threading.enumerate() if t.name == "matf-guard"]
    assert context_options(None) == {} and context_options(NetworkPolicy()) == {}
    assert [t for t in threading.enumerate() if t.name == "matf-guard"] == before


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.2",
        "localhost",
        "2130706434",
        "0177.0.0.2",
        "0x7f.0.0.2",
        "127.2",
        "[::ffff:7f00:2]",
    ],
)
def test_guarded_chromium_refuses_each_form_of_an_internal_address(
    pool: BrowserPool, internal: _Site, address: str
) -> None:
    port = internal.server_address[1]
    path = f"/form-{len(internal.hits)}"
    context = pool.browser("chromium").new_context(**context_options(GUARDED))
    try:
        response = context.new_page().goto(f"http://{address}:{port}{path}")
    finally:
        context.close()
    assert response is not None and response.status == 403
    assert "refused:" in (response.headers.get("x-matf-guard") or "")
    assert path not in internal.hits


def test_unguarded_chromium_still_reaches_loopback(pool: BrowserPool, internal: _Site) -> None:
    context = pool.browser("chromium").new_context(**context_options(NetworkPolicy()))
    try:
        response = context.new_page().goto(internal.url("/unguarded"))
    finally:
        context.close()
    assert response is not None and response.status == 200
    assert "/unguarded" in internal.hits


def test_a_redirect_from_an_allowed_host_to_an_internal_one_is_refused(
    pool: BrowserPool, allowed: _Site, internal: _Site
) -> None:
    # Given an allow-listed site that redirects to an internal one
    target = internal.url("/secret")
    context = pool.browser("chromium").new_context(**context_options(ALLOW_LOOPBACK_ONE))
    try:
        page = context.new_page()
        # When the allowed page's own fetch, websocket and API requests try the internal host
        page.goto(allowed.url("/"))
        page.evaluate(
            "u => fetch(u, {mode: 'no-cors'}).then(r => r.type, e => 'error')",
            internal.url("/fetch"),
        )
        socket_state = page.evaluate(
            """u => new Promise(done => {
                const ws = new WebSocket(u);
                ws.onopen = () => done('open'); ws.onerror = () => done('error');
            })""",
            internal.url("/ws").replace("http", "ws"),
        )
        api = context.request.get(internal.url("/api"))
        # and the browser follows a redirect there
        response = page.goto(allowed.url(f"/redirect?to={target}"))
        assert response is not None
    finally:
        context.close()
    # Then the first hop went through and the second was refused by the guard
    assert f"/redirect?to={target}" in allowed.hits
    assert response.status == 403 and response.url == target
    assert "127.0.0.2 is a loopback address" in (response.headers.get("x-matf-guard") or "")
    assert socket_state == "error" and api.status == 403
    assert not {"/secret", "/fetch", "/ws", "/api"} & set(internal.hits)
    assert any("127.0.0.2" in r for r in guard_for(ALLOW_LOOPBACK_ONE).refusals)


def test_a_guarded_executor_fails_a_test_that_redirects_inside(
    pool: BrowserPool, allowed: _Site, internal: _Site, tmp_path: Path
) -> None:
    target = internal.url("/from-executor")
    spec = parse_spec(
        {
            "id": "t",
            "name": "t",
            "url": allowed.url(),
            "steps": [{"action": "goto", "url": f"/redirect?to={target}"}],
        }
    )
    result = run_test(
        spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path, ALLOW_LOOPBACK_ONE)
    )
    assert result.status == "failed"
    assert "was not visited: refused: 127.0.0.2 is a loopback address" in (result.error or "")
    assert "/from-executor" not in internal.hits
    assert (
        run_test(spec, "chromium", "run1", Environment(pool, LIMITS, tmp_path)).status == "passed"
    )
    assert "/from-executor" in internal.hits


def test_guarded_exploration_says_why_a_page_was_refused(
    pool: BrowserPool, allowed: _Site, internal: _Site
) -> None:
    start = allowed.url(f"/redirect?to={internal.url('/from-explorer')}")
    site = explore(start, pool.browser("chromium"), 1, 5_000, ALLOW_LOOPBACK_ONE)
    assert site.pages == [] and "127.0.0.2 is a loopback address" in site.errors[start]
    assert "/from-explorer" not in internal.hits


def test_a_guarded_run_hands_its_policy_to_every_executor_task(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = parse_spec(
        {
            "id": "a",
            "name": "a",
            "url": "https://example.com/",
            "steps": [{"action": "goto", "url": "/"}],
        }
    )
    runs = {}
    for name, options in {
        "guarded": RunOptions(network=NetworkOptions.of(ALLOW_LOOPBACK_ONE)),
        "cli": RunOptions(),
    }.items():
        with session_scope(engine, write=True) as session:
            run_id = create_run(session, "https://example.com/", options).id
            save_cases(session, run_id, [spec])
        jobs = [ExecutorJob.model_validate(task.args[0]) for task in fan_out(engine, run_id).tasks]
        runs[name] = [(job.network.policy(), job.heal) for job in jobs]
    heal = HealRequest(ai=True)  # the first browser heals UI drift
    assert runs["guarded"] == [(ALLOW_LOOPBACK_ONE, heal)]
    assert runs["cli"] == [(NetworkPolicy(), heal)]
    engine.dispose()
