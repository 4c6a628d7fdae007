"""Run the demo site on a real socket, in a background thread or the foreground.

Tests, benchmarks and parallel browser workers all hit one server at once, so
it uses werkzeug's threaded server (one thread per request, 128-deep listen
queue) rather than Flask's debug server. Per-request access logs are dropped
by default; warnings and errors still reach the ``werkzeug`` logger.

The site's version can change while it runs (``DemoServer.set_version``), so a
visual-regression test can record baselines on version 1 and compare version 2
on the very same URL.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from demo.app import VERSION_KEY, check_version, create_app

POLL_INTERVAL_S = 0.1
DEFAULT_CLI_PORT = 8765


class _QuietRequestHandler(WSGIRequestHandler):
    """Drop info-level (per-request) log lines, i.e. log at level WARNING."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "info":
            return
        super().log(type, message, *args)


def _make(app: Flask, host: str, port: int, quiet: bool) -> BaseWSGIServer:
    handler = _QuietRequestHandler if quiet else WSGIRequestHandler
    return make_server(host, port, app, threaded=True, request_handler=handler)


def _base_url(server: BaseWSGIServer, host: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_port}"


class DemoServer:
    """The demo site served from a daemon thread; ``port=0`` picks a free port.

    ``version`` (1 or 2) is the site version; ``set_version`` (or assigning
    ``version``) changes it, also while running, from the next request on.
    """

    def __init__(
        self,
        bugs: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        quiet: bool = True,
        version: int = 1,
    ) -> None:
        self.bugs = bugs
        self.host = host
        self.port = port
        self.quiet = quiet
        self._version = check_version(version)
        self._app: Flask | None = None
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

    @property
    def version(self) -> int:
        """The site version served (1 or 2)."""
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self.set_version(value)

    def set_version(self, version: int) -> None:
        """Serve site ``version`` (1 or 2) from the next request on; works while running."""
        with self._lock:
            self._version = check_version(version)
            if self._app is not None:
                self._app.config[VERSION_KEY] = self._version

    def start(self) -> str:
        """Bind, start serving in the background and return the base URL (idempotent)."""
        with self._lock:
            if self._url is not None:
                return self._url
            app = create_app(bugs=self.bugs, version=self._version)
            server = _make(app, self.host, self.port, self.quiet)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name=f"matf-demo-{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._app, self._server, self._thread = app, server, thread
            self._url = _base_url(server, self.host)
            return self._url

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice or before start()."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = self._url = self._app = None
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
        return f"DemoServer(bugs={self.bugs}, version={self._version}, {state})"


def serve_forever(
    bugs: bool = True,
    host: str = "127.0.0.1",
    port: int = DEFAULT_CLI_PORT,
    *,
    quiet: bool = True,
    version: int = 1,
) -> None:
    """Serve in the foreground for a CLI command; prints the URL, Ctrl-C stops it."""
    server = _make(create_app(bugs=bugs, version=version), host, port, quiet)
    mode = "with seeded bugs" if bugs else "healthy (no seeded bugs)"
    if version != 1:
        mode += f", version {version}"
    print(f"MATF demo site {mode} at {_base_url(server, host)} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=POLL_INTERVAL_S)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("Stopped the demo site.", flush=True)
