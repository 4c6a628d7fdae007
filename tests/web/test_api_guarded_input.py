"""Input the API refuses before it stores or starts anything: a target that redirects
inside, and names with control characters (through the API and ``matf users``).

Servers are real: the API on werkzeug, the redirecting target on ``http.server``,
both on loopback; 127.0.0.1 is allow-listed as in every API test, 127.0.0.2
(Linux routes all of 127/8 to lo) is not.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import MATF, subprocess_env


class _Redirector(http.server.ThreadingHTTPServer):
    """Answers every GET with a 302 to ``to``, and records the paths asked."""

    daemon_threads = True

    def __init__(self, to: str) -> None:
        self.to = to
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _RedirectHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/start"


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    server: _Redirector

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", self.server.to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def redirector() -> Iterator[_Redirector]:
    site = _Redirector("http://127.0.0.2:9/admin")
    yield site
    site.shutdown()
    site.server_close()


def test_a_target_that_redirects_to_loopback_is_refused_naming_the_hop(
    api: ApiServer, redirector: _Redirector
) -> None:
    # Given an allowed target that redirects to a loopback address not allowed
    with api.client("editor") as client:
        # When an editor submits it
        response = client.post("/api/v1/tests/execute", json={"url": redirector.url})
        runs = client.get("/api/v1/runs").json()
    # Then it is refused at once, the hop named, and no run exists
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert detail.startswith("target redirects to http://127.0.0.2:9/admin (hop 1): ")
    assert "127.0.0.2 is a loopback address: refused" in detail
    assert redirector.hits == ["/start"]
    assert runs["total"] == 0


CONTROLS = {"NUL": "\x00", "ESC": "\x1b", "DEL": "\x7f", "C1 CSI": "\x9b", "RLO": "\u202e"}


def test_names_with_control_characters_are_refused_through_the_api(api: ApiServer) -> None:
    viewer_id = api.user("viewer").id
    with api.client("admin") as admin:
        for kind, char in CONTROLS.items():
            name = f"Eve{char}Admin"
            # When a user, a renamed user, an e-mail or a key name holds one
            answers = [
                admin.post(
                    "/api/v1/users",
                    json={"email": "eve@example.com", "password": PASSWORD, "name": name},
                ),
                admin.post(
                    "/api/v1/users", json={"email": f"e{char}ve@example.com", "password": PASSWORD}
                ),
                admin.patch(f"/api/v1/users/{viewer_id}", json={"name": name}),
                admin.post("/api/v1/keys", json={"name": name}),
            ]
            # Then each is a one-line 400 problem naming the code point
            for answer in answers:
                assert answer.status_code == 400, (kind, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                detail = answer.json()["detail"]
                named = f"may not contain control characters (U+{ord(char):04X}"
                if char == "\x00":  # refused with the body, before any field is read
                    named = "the body holds a NUL character"
                assert named in detail, (kind, detail)
                assert char not in detail
        users = admin.get("/api/v1/users").json()["items"]
        keys = admin.get("/api/v1/keys").json()["items"]
        # And nothing was stored; a name without one, accents and emoji included, is kept
        kept = admin.patch(f"/api/v1/users/{viewer_id}", json={"name": "Zoë 🙂"})
    assert not [u for u in users if u["email"].endswith("ve@example.com")]
    assert all(u["name"].startswith("Eve") is False for u in users)
    assert all(k["name"].startswith("Eve") is False for k in keys)
    assert kept.status_code == 200, kept.text
    assert kept.json()["name"] == "Zoë 🙂"


def test_matf_users_create_refuses_a_name_with_escape_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*MATF, "users", "create", "eve@example.com", "--name", "Eve\x1b[31m"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "may not contain control characters (U+001B at position 4)" in lines[0]
    assert "\x1b" not in proc.stderr
    listed = subprocess.run(
        [*MATF, "users", "list"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert "eve@example.com" not in listed.stdout
