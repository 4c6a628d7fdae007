"""A filtering forward proxy between a guarded browser context and the network.

Playwright's request interception sees only the first hop of a redirect:
Chromium follows the rest itself. So the check sits where the connection is
made instead. A guarded context's ``proxy`` points here; every request it sends,
each hop of a redirect chain included, arrives as an absolute-URI request
(plain http) or a ``CONNECT host:port`` tunnel (https, wss). The proxy resolves
the host once, vets every address with ``matf.netguard.check_host`` and connects
to exactly those addresses; a refused one gets a 403 naming the reason.

One proxy per policy per process, on 127.0.0.1 with an ephemeral port, started
on first use in daemon threads; Chromium would skip a proxy for loopback
targets, so contexts are opened with the ``<-loopback>`` bypass rule that sends
127.0.0.1 and localhost through the proxy too. Unguarded contexts get no proxy
and start nothing.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import socket
import socketserver
import threading
from collections import deque
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from matf.errors import MatfError, TargetForbidden
from matf.netguard import NetworkPolicy, open_connection

log = logging.getLogger(__name__)

MAX_HEAD = 65_536
_HOP_BY_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization"}
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class GuardProxy:
    """A running guard for one policy: its URL for ``proxy=``, the refusals it made."""

    def __init__(
        self, policy: NetworkPolicy, connect_timeout_s: float = 10.0, idle_timeout_s: float = 300.0
    ) -> None:
        self.policy = policy
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.refusals: deque[str] = deque(maxlen=200)
        self.pid = os.getpid()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="matf-guard", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.pid == os.getpid()

    def close(self) -> None:
        """Stop accepting; tunnels already open end with their connections."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, guard: GuardProxy) -> None:
        self.guard = guard
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log, instead of socketserver's traceback on stderr: one odd client is no news."""
        log.debug("guard: error serving %s", client_address, exc_info=True)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server
    request: socket.socket

    def handle(self) -> None:
        guard = self.server.guard
        client = self.request
        client.settimeout(guard.idle_timeout_s)
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            lines = head.split(b"\r\n")
            method, target, _version = lines[0].split(b" ", 2)
            if method.upper() == b"CONNECT":
                self._tunnel(guard, client, target.decode("latin-1"), rest)
            else:
                self._forward(guard, client, method, target.decode("latin-1"), lines[1:], rest)
        except (OSError, ValueError):
            return  # a client that hangs up or talks nonsense gets nothing more
        finally:
            with suppress(OSError):
                client.close()

    def _tunnel(self, guard: GuardProxy, client: socket.socket, target: str, rest: bytes) -> None:
        host, _, port_text = target.rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65_536:
            _reply(client, 400, f"bad CONNECT target {target!r}")
            return
        upstream = _open(guard, client, host, int(port_text))
        if upstream is None:
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream, guard.idle_timeout_s, rewrite_response=False)

    def _forward(
        self,
        guard: GuardProxy,
        client: socket.socket,
        method: bytes,
        target: str,
        headers: list[bytes],
        rest: bytes,
    ) -> None:
        parts = urlsplit(target)
        try:
            port = parts.port or 80
        except ValueError:
            port = 0
        if parts.scheme != "http" or not parts.hostname or not port:
            _reply(client, 400, f"the guard forwards absolute http:// URLs only, not {target!r}")
            return
        upstream = _open(guard, client, parts.hostname, port)
        if upstream is None:
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [h for h in headers if h and h.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        head = b"\r\n".join(
            [b" ".join([method, path.encode("latin-1"), b"HTTP/1.1"]), *kept, b"Connection: close"]
        )
        with upstream:
            upstream.sendall(head + b"\r\n\r\n" + rest)
            _relay(client, upstream, guard.idle_timeout_s, rewrite_response=True)


def _open(guard: GuardProxy, client: socket.socket, host: str, port: int) -> socket.socket | None:
    """The vetted upstream connection, or None after answering the client why not."""
    try:
        upstream = open_connection(host, port, guard.policy, guard.connect_timeout_s)
        upstream.settimeout(guard.idle_timeout_s)
        return upstream
    except TargetForbidden as exc:
        guard.refusals.append(exc.message)
        log.warning("guard %s", exc.message)
        _reply(client, 403, exc.message)
    except MatfError as exc:
        _reply(client, 502, exc.message)
    except OSError as exc:
        _reply(client, 502, f"could not connect to {host}:{port} ({exc.strerror or exc})")
    return None


def _reply(client: socket.socket, status: int, message: str) -> None:
    text = _UNPRINTABLE.sub("?", message)
    body = (text + "\n").encode("ascii")
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-MATF-Guard: {text}\r\n"
        "Connection: close\r\nProxy-Connection: close\r\n\r\n"
    )
    with suppress(OSError):
        client.sendall(head.encode("ascii") + body)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """A request or response head up to its blank line, and what came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            raise ValueError("head too long")
        chunk = sock.recv(16_384)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _closing(head: bytes) -> bytes:
    """A response head that tells the client this connection ends with the response.

    Without it Chromium would reuse the connection for its next request, which
    would then reach the previous request's host unchecked by name.
    """
    lines = head.split(b"\r\n")
    if lines[0][9:10] == b"1":  # 1xx: interim, or a protocol switch; leave as is
        return head
    kept = [h for h in lines[1:] if h.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([lines[0], *kept, b"Connection: close", b"Proxy-Connection: close"])


def _relay(
    client: socket.socket, upstream: socket.socket, idle_s: float, rewrite_response: bool
) -> None:
    """Copy bytes both ways until both sides are done, half-closing as each ends."""
    peers = {client: upstream, upstream: client}
    pending: bytes | None = b"" if rewrite_response else None  # response head, until complete
    with selectors.DefaultSelector() as selector:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map():
            events = selector.select(idle_s)
            if not events:
                return  # idle too long
            for key, _ in events:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                dst = peers[src]
                data = src.recv(65_536)
                if not data:
                    selector.unregister(src)
                    if src is upstream and pending:
                        dst.sendall(pending)  # no complete head ever came: pass it on as is
                        pending = None
                    with suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    continue
                if src is upstream and pending is not None:
                    pending += data
                    end = pending.find(b"\r\n\r\n")
                    if end < 0 and len(pending) <= MAX_HEAD:
                        continue
                    data = _closing(pending[:end]) + pending[end:] if end >= 0 else pending
                    pending = None
                dst.sendall(data)


_lock = threading.Lock()
_guards: dict[NetworkPolicy, GuardProxy] = {}


def guard_for(policy: NetworkPolicy) -> GuardProxy:
    """This process's guard for ``policy``, started on first use (again after a fork)."""
    with _lock:
        guard = _guards.get(policy)
        if guard is None or not guard.running:
            guard = GuardProxy(policy)
            _guards[policy] = guard
        return guard


def context_options(
    policy: NetworkPolicy | None,
    browser_name: str = "chromium",
    storage_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``browser.new_context``: nothing unguarded, the guard otherwise.

    ``<-loopback>`` undoes Chromium's implicit proxy bypass for loopback hosts.
    ``storage_state``: a sign-in's cookies and local storage, to start signed in;
    passed in memory only, never as a file.
    """
    options: dict[str, Any] = {} if storage_state is None else {"storage_state": storage_state}
    if policy is None or not policy.guarded:
        return options
    proxy: dict[str, str] = {"server": guard_for(policy).url}
    if browser_name == "chromium":
        proxy["bypass"] = "<-loopback>"
    return {**options, "proxy": proxy}


def close_guards() -> None:
    """Stop every guard this process started."""
    with _lock:
        for guard in _guards.values():
            if guard.pid == os.getpid():
                guard.close()
        _guards.clear()
