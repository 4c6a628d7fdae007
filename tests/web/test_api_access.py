"""Who may call what: every operation of the OpenAPI document against every role.

The routes come from the live ``/openapi.json``, so a new endpoint joins the
matrix on its own; what it must answer comes from the same document (public
operations have ``security: []``, the others say "Needs the role X or above.").
A denied request is 401 (no credentials) or 403 (a role too low) as a problem
document; an allowed one is anything the operation documents except 401/403
(fake ids legitimately give 404, a refused target 422).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from matf.auth import ROLES
from matf.secrets.keyring import generate_key
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import make_settings

NEEDS_ROLE = re.compile(r"^Needs the role (viewer|editor|admin) or above\.$")
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("GET", "/health"),
    ("GET", "/api/v1/system/health"),
}
MISSING_INT = 999_999
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server for the module: the matrix only reads, or writes what nothing else reads."""
    folder = tmp_path_factory.mktemp("access")
    settings = make_settings(
        folder,
        rate_limit="100000 per minute",
        matf_allowed_targets="127.0.0.1",
        encryption_key=generate_key(),
    )
    api = ApiServer(settings).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def document(server: ApiServer) -> dict[str, Any]:
    with server.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def role(self) -> str | None:
        """The least role the document says the operation needs; None when public."""
        if self.spec.get("security") == []:
            return None
        match = NEEDS_ROLE.match(self.spec.get("description", ""))
        assert match, f"{self} declares neither security: [] nor a role"
        return match.group(1)

    @property
    def documented(self) -> set[int]:
        return {int(code) for code in self.spec["responses"]}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]


# Plausible requests that change nothing shared: fake ids answer 404, the target
# of a run is a private address that the SSRF guard refuses (422) before anything starts.
PATH_VALUES = {
    ("GET", "/api/v1/runs/{run_id}/report/{name}"): {"name": "report.json"},
    ("GET", "/api/v1/runs/{run_id}/artifacts/{name}"): {"name": "shot.png"},
}
QUERIES = {
    ("DELETE", "/api/v1/secrets"): {"origin": "https://nowhere.example.com", "name": "login"},
}


def _body(op: Operation) -> Any:
    key = (op.method, op.path)
    if key == ("POST", "/api/v1/auth/login"):
        return {"email": "viewer@example.com", "password": PASSWORD}
    if key == ("POST", "/api/v1/users"):
        return {"email": f"matrix-{next(_counter)}@example.com", "password": PASSWORD}
    if key == ("PATCH", "/api/v1/users/{user_id}"):
        return {"name": "Renamed"}
    if key == ("POST", "/api/v1/keys"):
        return {"name": f"matrix key {next(_counter)}", "role": "viewer"}
    if key == ("PUT", "/api/v1/secrets"):
        return {
            "origin": "https://shop.example.com",
            "name": "login",
            "value": {"username": "shopper", "password": "hunter2"},
        }
    if key == ("POST", "/api/v1/suites"):
        return {"name": "matrix", "run_id": "r-missing"}
    if key == ("PATCH", "/api/v1/suites/{suite_id}/cases/{case_id}"):
        return {"enabled": False}
    if key == ("POST", "/api/v1/tests/execute"):
        return {"url": "http://10.255.255.1/", "type": "functional"}
    return {} if "requestBody" in op.spec else None


def _request(client: httpx.Client, op: Operation) -> httpx.Response:
    """The operation, with fake ids and a minimal body."""
    path = op.path
    values = PATH_VALUES.get((op.method, op.path), {})
    params: dict[str, str] = dict(QUERIES.get((op.method, op.path), {}))
    for param in op.spec.get("parameters", []):
        name = param["name"]
        if param["in"] == "path":
            fake = MISSING_INT if param["schema"].get("type") == "integer" else "missing"
            path = path.replace("{" + name + "}", str(values.get(name, fake)))
        elif param["in"] == "query" and param.get("required") and name not in params:
            params[name] = "x"
    body = _body(op)
    if body is None:
        return client.request(op.method, path, params=params)
    return client.request(op.method, path, params=params, json=body)


def _expected_denial(op: Operation, role: str | None) -> int | None:
    """401 or 403 when ``role`` (None: no credentials) may not call ``op``; None when it may."""
    if op.role is None:
        return None
    if role is None:
        return 401
    return 403 if ROLES.index(role) < ROLES.index(op.role) else None


def _mismatch(op: Operation, role: str | None, response: httpx.Response) -> str | None:
    denial = _expected_denial(op, role)
    got = response.status_code
    where = f"{op} as {role or 'anonymous'}: {got}"
    if denial is None:
        if got in (401, 403):
            return f"{where}, expected to be allowed ({response.text[:200]})"
        if got not in op.documented:
            return f"{where}, not a documented status {sorted(op.documented)}"
        return None
    if got != denial:
        return f"{where}, expected {denial}"
    if response.headers.get("content-type") != "application/problem+json":
        return f"{where} is not a problem document"
    if got == 401 and not response.headers.get("WWW-Authenticate", "").startswith("Bearer"):
        return f"{where} without WWW-Authenticate: Bearer"
    return None


def test_document_declares_every_operations_access(document: dict[str, Any]) -> None:
    # Given the document of the live server
    ops = operations(document)
    # Then every operation says who may call it, and only the known few are public
    assert len(ops) >= 30
    for op in ops:
        if op.role is not None:
            assert op.spec["security"] == [{"bearer": []}, {"apiKey": []}], op
            assert {401, 403} <= op.documented, op
    public = {(op.method, op.path) for op in ops if op.role is None}
    assert public == PUBLIC


@pytest.mark.parametrize(
    ("role", "via"),
    [(None, "token")] + [(role, via) for via in ("token", "key") for role in ROLES],
    ids=lambda value: str(value),
)
def test_every_operation_answers_as_its_role_says(
    server: ApiServer, document: dict[str, Any], role: str | None, via: str
) -> None:
    # Given every operation of the document, and one principal
    mismatches = []
    with server.client(role, via=via) as client:
        # When the principal calls each of them
        for op in operations(document):
            mismatch = _mismatch(op, role, _request(client, op))
            if mismatch:
                mismatches.append(mismatch)
    # Then each answers 401, 403 or lets it through, as the document says
    assert mismatches == []


def test_an_unsafe_run_target_is_refused_not_started(server: ApiServer) -> None:
    # The matrix relies on this: an editor's run on a private address never starts
    with server.client("editor") as client:
        response = client.post("/api/v1/tests/execute", json={"url": "http://10.255.255.1/"})
        runs = client.get("/api/v1/runs").json()
    assert response.status_code == 422
    assert "private address" in response.json()["detail"]
    assert runs["total"] == 0


def _new_user(admin: httpx.Client, role: str) -> tuple[int, str]:
    """A fresh user of ``role`` (made by the admin API) and a token from signing in."""
    email = f"{role}-{next(_counter)}@example.com"
    made = admin.post("/api/v1/users", json={"email": email, "password": PASSWORD, "role": role})
    assert made.status_code == 201, made.text
    login = admin.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return made.json()["id"], login.json()["access_token"]


def _bearer(server: ApiServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_revoked_api_key_is_refused(server: ApiServer) -> None:
    with server.client("admin") as admin:
        # Given an editor key that works
        made = admin.post("/api/v1/keys", json={"name": "ci", "role": "editor"})
        assert made.status_code == 201
        key = made.json()["key"]
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as machine:
            assert machine.get("/api/v1/runs").status_code == 200
            # When an admin revokes it
            assert admin.delete(f"/api/v1/keys/{made.json()['id']}").status_code == 204
            # Then it is refused at once
            refused = machine.get("/api/v1/runs")
        listed = {k["id"]: k for k in admin.get("/api/v1/keys").json()["items"]}
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "revoked" in refused.json()["detail"]
    assert listed[made.json()["id"]]["revoked_at"] is not None


def test_a_made_up_api_key_is_refused(server: ApiServer) -> None:
    real = server.keys["admin"]
    prefix, _, _ = real.partition(".")
    for key in (f"{prefix}.not-the-secret", "matf_00000000.whatever", ""):
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as client:
            response = client.get("/api/v1/runs")
        assert response.status_code == 401, key


def test_a_disabled_users_token_is_refused(server: ApiServer) -> None:
    with server.client("admin") as admin:
        # Given an editor who is signed in
        user_id, token = _new_user(admin, "editor")
        with _bearer(server, token) as user:
            assert user.get("/api/v1/auth/me").status_code == 200
            # When an admin disables them
            patched = admin.patch(f"/api/v1/users/{user_id}", json={"active": False})
            assert patched.status_code == 200
            assert patched.json()["active"] is False
            # Then their token stops working, and they cannot sign in again
            refused = user.get("/api/v1/auth/me")
        email = patched.json()["email"]
        login = admin.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert login.status_code == 401


def test_a_role_change_ends_the_users_sessions(server: ApiServer) -> None:
    with server.client("admin") as admin:
        # Given a viewer, signed in, who may not save a suite
        user_id, token = _new_user(admin, "viewer")
        body = {"name": "promoted", "run_id": "r-missing"}
        with _bearer(server, token) as user:
            assert user.post("/api/v1/suites", json=body).status_code == 403
            # When an admin promotes them to editor
            assert admin.patch(f"/api/v1/users/{user_id}", json={"role": "editor"}).is_success
            # Then the old token is refused: they sign in again, and get the new role
            old = user.get("/api/v1/auth/me")
        login = admin.post(
            "/api/v1/auth/login",
            json={"email": _email_of(admin, user_id), "password": PASSWORD},
        )
        with _bearer(server, login.json()["access_token"]) as again:
            promoted = again.post("/api/v1/suites", json=body)
            # And a demotion ends that session too
            assert admin.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}).is_success
            demoted = again.post("/api/v1/suites", json=body)
    assert old.status_code == 401 and "sign in again" in old.json()["detail"]
    assert login.json()["role"] == "editor"
    assert promoted.status_code == 404  # allowed now: the run is missing, not the right
    assert demoted.status_code == 401


def _email_of(admin: httpx.Client, user_id: int) -> str:
    users = admin.get("/api/v1/users").json()["items"]
    return str(next(u["email"] for u in users if u["id"] == user_id))


def test_an_admin_cannot_demote_or_disable_themselves(server: ApiServer) -> None:
    admin_id = server.user("admin").id
    with server.client("admin") as admin:
        demote = admin.patch(f"/api/v1/users/{admin_id}", json={"role": "viewer"})
        disable = admin.patch(f"/api/v1/users/{admin_id}", json={"active": False})
        me = admin.get("/api/v1/auth/me")
    assert demote.status_code == 400
    assert disable.status_code == 400
    assert me.json()["role"] == "admin"
    assert me.json()["active"] is True


def test_a_key_cannot_act_above_its_role(server: ApiServer) -> None:
    # An editor key may start work but not mint an admin key for itself
    with server.client("editor", via="key") as client:
        response = client.post("/api/v1/keys", json={"name": "escalate", "role": "admin"})
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
