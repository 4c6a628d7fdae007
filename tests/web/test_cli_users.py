"""``matf users deactivate|activate|delete|set-password|set-role`` against a running server.

The CLI is a child process on the server's database, as an operator would run
it; the server is real (werkzeug on loopback). What the CLI changes applies to
the server's next request.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import run_matf

NEW_PASSWORD = "a different long passphrase"


def _matf(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_matf(list(args), folder, stdin=stdin)


def _me(api: ApiServer, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{api.url}/api/v1/auth/me", headers=headers, timeout=30).status_code


def _login(api: ApiServer, email: str, password: str = PASSWORD) -> int:
    body = {"email": email, "password": password}
    return httpx.post(f"{api.url}/api/v1/auth/login", json=body, timeout=30).status_code


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one line the command printed, having checked it is a usage error naming ``words``."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("matf: error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_deactivate_and_activate_from_the_command_line(api: ApiServer, tmp_path: Path) -> None:
    token = api.tokens["editor"]
    assert _me(api, token) == 200
    # When an operator deactivates the editor
    off = _matf(tmp_path, "users", "deactivate", "Editor@Example.com")
    listed = _matf(tmp_path, "users", "list")
    # Then their session ends and they cannot sign in
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "deactivated editor@example.com"
    assert "editor@example.com\teditor\tdisabled" in listed.stdout
    assert _me(api, token) == 401
    assert _login(api, "editor@example.com") == 401
    # When they are activated again, they sign in; the old session stays ended
    on = _matf(tmp_path, "users", "activate", "editor@example.com")
    assert on.returncode == 0, on.stderr
    assert _login(api, "editor@example.com") == 200
    assert _me(api, token) == 401


def test_delete_asks_for_yes_then_deletes(api: ApiServer, tmp_path: Path) -> None:
    token = api.tokens["viewer"]
    # Without --yes (and no terminal to ask on) nothing is deleted
    refused = _matf(tmp_path, "users", "delete", "viewer@example.com")
    _one_line_error(refused, "viewer@example.com", "--yes")
    assert _me(api, token) == 200
    # With it, the user is gone and so is their session
    deleted = _matf(tmp_path, "users", "delete", "viewer@example.com", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "deleted viewer@example.com"
    assert _me(api, token) == 401
    assert "viewer@example.com" not in _matf(tmp_path, "users", "list").stdout
    _one_line_error(_matf(tmp_path, "users", "delete", "viewer@example.com", "--yes"), "no user")


def test_the_last_admin_cannot_be_removed_from_the_command_line(
    api: ApiServer, tmp_path: Path
) -> None:
    for args in (
        ("users", "delete", "admin@example.com", "--yes"),
        ("users", "deactivate", "admin@example.com"),
        ("users", "set-role", "admin@example.com", "viewer"),
    ):
        _one_line_error(_matf(tmp_path, *args), "admin@example.com", "last active admin")
    assert _me(api, api.tokens["admin"]) == 200
    # With a second admin, the first may be demoted; their session ends
    made = _matf(
        tmp_path, "users", "create", "ops@example.com", "--role", "admin", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    demoted = _matf(tmp_path, "users", "set-role", "admin@example.com", "viewer")
    assert demoted.returncode == 0, demoted.stderr
    assert _me(api, api.tokens["admin"]) == 401


def test_a_new_password_from_the_command_line_ends_old_sessions(
    api: ApiServer, tmp_path: Path
) -> None:
    token = api.tokens["editor"]
    changed = _matf(tmp_path, "users", "set-password", "editor@example.com", stdin=NEW_PASSWORD)
    assert changed.returncode == 0, changed.stderr
    assert NEW_PASSWORD not in changed.stdout + changed.stderr
    assert _me(api, token) == 401
    assert _login(api, "editor@example.com") == 401
    assert _login(api, "editor@example.com", NEW_PASSWORD) == 200
    # A short one, or none, changes nothing
    _one_line_error(_matf(tmp_path, "users", "set-password", "editor@example.com", stdin="short"))
    _one_line_error(_matf(tmp_path, "users", "set-password", "editor@example.com"), "password")
    assert _login(api, "editor@example.com", NEW_PASSWORD) == 200


def test_unknown_users_are_one_line(api: ApiServer, tmp_path: Path) -> None:
    for args in (
        ("deactivate", "nobody@example.com"),
        ("activate", "nobody@example.com"),
        ("delete", "nobody@example.com", "--yes"),
        ("set-role", "nobody@example.com", "viewer"),
    ):
        line = _one_line_error(_matf(tmp_path, "users", *args))
        assert "no user nobody@example.com" in line, line
    # And nothing changed: the users are the ones there were
    listed = _matf(tmp_path, "users", "list")
    assert listed.returncode == 0 and "nobody@example.com" not in listed.stdout
    assert all(f"{role}@example.com" in listed.stdout for role in ("viewer", "editor", "admin"))
