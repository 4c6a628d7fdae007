"""Run the demo site on a real socket, in a background thread or the foreground.

Tests, benchmarks and parallel browser workers all hit one server at once, so
it uses werkzeug's threaded server (one thread per request, 128-deep listen
queue) rather than Flask's debug server. Per-request access logs are dropped
by default; warnings and errors still reach the ``werkzeug`` logger.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from matf.demo.app import create_app

POLL_INTERVAL_S = 0.1
DEFAULT_CLI_PORT = 8765


class _QuietRequestHandler(WSGIRequestHandler):
    """Drop info-level (per-request) log lines, i.e. log at level WARNING."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "info":
            return
        super().log(type, message, *args)


def _make(bugs: bool, host: str, port: int, quiet: bool) -> BaseWSGIServer:
    handler = _QuietRequestHandler if quiet else WSGIRequestHandler
    return make_server(host, port, create_app(bugs=bugs), threaded=True, request_handler=handler)


def _base_url(server: BaseWSGIServer, host: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_port}"


class DemoServer:
    """The demo site served from a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self, bugs: bool = True, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True
    ) -> None:
        self.bugs = bugs
        self.host = host
        self.port = port
        self.quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``; only while running."""
        if self._url is None:
            raise RuntimeError("DemoServer is not running; call start() first")
        return self._url

    def start(self) -> str:
        """Bind, start serving in the background and return the base URL (idempotent)."""
        with self._lock:
            if self._url is not None:
                return self._url
            server = _make(self.bugs, self.host, self.port, self.quiet)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name=f"matf-demo-{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            self._url = _base_url(server, self.host)
            return self._url

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice or before start()."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = self._url = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._url or "stopped"
        return f"DemoServer(bugs={self.bugs}, {state})"


def serve_forever(
    bugs: bool = True, host: str = "127.0.0.1", port: int = DEFAULT_CLI_PORT, *, quiet: bool = True
) -> None:
    """Serve in the foreground for a CLI command; prints the URL, Ctrl-C stops it."""
    server = _make(bugs, host, port, quiet)
    mode = "with seeded bugs" if bugs else "healthy (no seeded bugs)"
    print(f"MATF demo site {mode} at {_base_url(server, host)} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=POLL_INTERVAL_S)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("Stopped the demo site.", flush=True)
