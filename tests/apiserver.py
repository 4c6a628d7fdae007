"""A real HTTP server around MATF's Flask app, and accounts of every role, for tests."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from matf.auth import create_api_key, create_user, issue_token
from matf.settings import Settings
from matf.storage.db import get_engine, session_scope
from matf.storage.models import User
from tasks.control import Platform
from web import create_app

PASSWORD = "correct horse battery"
ROLES = ("viewer", "editor", "admin")
FINAL = ("passed", "failed", "error")


def login_csrf(page: httpx.Response) -> str:
    """The CSRF token of a dashboard sign-in form, as a browser would post it back."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert found is not None, "the sign-in form has no CSRF token"
    return found.group(1)


def finished(client: httpx.Client, run_id: str, timeout_s: float = 180) -> dict[str, Any]:
    """The run as the API shows it once it has ended; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get(f"/api/v1/runs/{run_id}/status").json()["status"] in FINAL:
            return dict(client.get(f"/api/v1/runs/{run_id}").json())
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not end in {timeout_s} s")


@dataclass
class ApiServer:
    """The app on 127.0.0.1:<free port> in a thread (threaded, so /ws works too)."""

    settings: Settings
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    runtime: Platform | None = None
    app: Flask | None = None
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        self.runtime = Platform(self.settings)
        app = self.app = create_app(self.settings, self.runtime)
        self._make_accounts(app.config["MATF_JWT_SECRET"])
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _make_accounts(self, secret: str) -> None:
        engine = get_engine(self.settings.database_url)
        with session_scope(engine, write=True) as session:
            for role in ROLES:
                user = create_user(session, f"{role}@example.com", PASSWORD, role)
                self.tokens[role] = issue_token(secret, user)
                _row, self.keys[role] = create_api_key(session, f"{role} key", role)

    def user(self, role: str) -> User:
        engine = get_engine(self.settings.database_url)
        with session_scope(engine) as session:
            user = session.query(User).filter_by(email=f"{role}@example.com").one()
            session.expunge(user)
            return user

    def client(self, role: str | None = None, via: str = "token") -> httpx.Client:
        headers: dict[str, str] = {}
        if role is not None and via == "token":
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        elif role is not None:
            headers["X-API-Key"] = self.keys[role]
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.runtime is not None:
            self.runtime.close()
