"""Helpers for the tests of signed-in runs: the demo's accounts as secrets, the sealed state read.

Shared by the embedded (tests/e2e) and distributed (tests/tasks) runs.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from demo.account import ACCOUNTS, SESSION_COOKIE
from matf.secrets.keyring import generate_key, parse_keyring
from matf.secrets.sessions import cached_state
from matf.storage.db import make_engine, session_scope
from tests.conftest import run_matf

KEY = generate_key("k1")
# What a run over the account area explores: its pages, no clicks, few enough to be quick.
SMALL = ["--types", "functional", "--max-pages", "8", "--max-interactions", "0"]


def set_demo_secrets(folder: Path, url: str) -> None:
    """The demo's accounts as the target's secrets: login (the user), login.admin, login.user."""
    named = {"login": "user", "login.user": "user", "login.admin": "admin"}
    for name, role in named.items():
        account = ACCOUNTS[role]
        value = json.dumps({"username": account.username, "password": account.password})
        done = run_matf(
            ["secrets", "set", url, name, "--json"], folder, stdin=value, ENCRYPTION_KEY=KEY
        )
        assert done.returncode == 0, done.stderr


def session_cookie(folder: Path, url: str, role: str | None = None) -> str:
    """The value of the demo's session cookie in the cached (sealed) state of ``role``."""
    engine = make_engine(f"sqlite:///{folder / 'matf.db'}")
    with session_scope(engine) as session:
        state = cached_state(session, parse_keyring(KEY), url, role)
    engine.dispose()
    assert state is not None, "no live cached sign-in"
    [value] = [c["value"] for c in state["cookies"] if c["name"] == SESSION_COOKIE]
    return str(value)


def sign_in_count(folder: Path, role: str = "") -> int:
    """How many times MATF signed in as ``role`` ("": the login secret), from the database."""
    with sqlite3.connect(folder / "matf.db") as db:
        row = db.execute("SELECT sign_ins FROM session_states WHERE role = ?", (role,)).fetchone()
    return int(row[0]) if row else 0


def signed_in_events(folder: Path) -> list[dict[str, Any]]:
    """The payloads of the ``signed_in`` events, oldest first."""
    with sqlite3.connect(folder / "matf.db") as db:
        rows = db.execute(
            "SELECT payload FROM events WHERE kind = 'signed_in' ORDER BY id"
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def report(folder: Path, out: str) -> dict[str, Any]:
    return dict(json.loads((folder / out / "report.json").read_text(encoding="utf-8")))


def page_errors_on(data: dict[str, Any], path: str) -> list[str]:
    """Every page error the report's tests of ``path`` met."""
    return [
        error
        for test in data["tests"]
        if test["url"].split("?")[0].endswith(path)
        for error in test["page_errors"]
    ]
