"""Users' lives: deactivation, deletion, new passwords; tokens never name the wrong user.

A token names its user by a uid that is never reused and carries the user's
token version; every change that should end a session bumps it. The last
active admin stays. The server is real (werkzeug on loopback); each test makes
the users it changes, so the module shares one server.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matf.auth import create_api_key, create_user, issue_token
from matf.storage.db import get_engine, session_scope
from matf.storage.models import User
from tests.apiserver import PASSWORD, ApiServer
from tests.conftest import make_settings

NEW_PASSWORD = "a different long passphrase"
SECRET = secrets.token_urlsafe(48)
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("users")
    settings = make_settings(folder, jwt_secret=SECRET, rate_limit="100000 per minute")
    api = ApiServer(settings).start()
    yield api
    api.stop()


def _bearer(server: ApiServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _login(server: ApiServer, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )


def _new_user(admin: httpx.Client, role: str = "editor") -> tuple[int, str, str]:
    """A fresh user made through the API: id, email, and a token from signing in."""
    email = f"{role}-{next(_counter)}@example.com"
    made = admin.post("/api/v1/users", json={"email": email, "password": PASSWORD, "role": role})
    assert made.status_code == 201, made.text
    login = admin.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return made.json()["id"], email, login.json()["access_token"]


def _assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "\n" not in detail
    for word in words:
        assert word in detail, detail


# -- tokens name the user by an id that is never reused ---------------------------------------


def test_a_deleted_users_token_never_works_for_the_next_user(server: ApiServer) -> None:
    # Given a user, the newest, signed in
    with server.client("admin") as admin:
        gone_id, gone_email, token = _new_user(admin, "viewer")
    with _bearer(server, token) as old:
        assert old.get("/api/v1/auth/me").json()["email"] == gone_email
    # When the row is deleted and someone new is made, as an older version's admin would
    engine = get_engine(server.settings.database_url)
    with session_scope(engine, write=True) as session:
        session.delete(session.get(User, gone_id))
    with session_scope(engine, write=True) as session:
        newcomer = create_user(session, "newcomer@example.com", PASSWORD, "admin")
        newcomer_id = newcomer.id
    # Then the old token is refused, not taken for the newcomer's; the id is not reused either
    with _bearer(server, token) as old:
        me = old.get("/api/v1/auth/me")
        users = old.get("/api/v1/users")
    _assert_problem(me, 401, "sign in again")
    _assert_problem(users, 401)
    assert newcomer_id != gone_id


def test_deleting_a_user_through_the_api_ends_their_session_for_good(server: ApiServer) -> None:
    with server.client("admin") as admin:
        # Given a signed-in editor
        user_id, email, token = _new_user(admin)
        # When an admin deletes them
        deleted = admin.delete(f"/api/v1/users/{user_id}")
        again = admin.delete(f"/api/v1/users/{user_id}")
        listed = [u["email"] for u in admin.get("/api/v1/users").json()["items"]]
        # And someone signs up with the same email
        made = admin.post("/api/v1/users", json={"email": email, "password": NEW_PASSWORD})
    # Then the old token is refused, the account is gone, and the new one has a new id
    with _bearer(server, token) as old:
        me = old.get("/api/v1/auth/me")
    assert deleted.status_code == 204
    _assert_problem(again, 404, f"no user {user_id}")
    assert email not in listed
    assert made.status_code == 201 and made.json()["id"] != user_id
    _assert_problem(me, 401, "sign in again")
    assert _login(server, email).status_code == 401  # the old password is not the new user's


def test_a_new_password_ends_the_old_sessions(server: ApiServer) -> None:
    with server.client("admin") as admin:
        user_id, email, token = _new_user(admin)
        changed = admin.patch(f"/api/v1/users/{user_id}", json={"password": NEW_PASSWORD})
        short = admin.patch(f"/api/v1/users/{user_id}", json={"password": "short"})
    with _bearer(server, token) as old:
        me = old.get("/api/v1/auth/me")
    assert changed.status_code == 200, changed.text
    assert "password" not in changed.text
    _assert_problem(short, 422, "password")
    _assert_problem(me, 401, "sign in again")
    assert _login(server, email).status_code == 401
    fresh = _login(server, email, NEW_PASSWORD)
    assert fresh.status_code == 200
    with _bearer(server, fresh.json()["access_token"]) as new:
        assert new.get("/api/v1/auth/me").json()["email"] == email


def test_a_renamed_user_keeps_their_session(server: ApiServer) -> None:
    # Only what changes who may do what ends a session; a new display name does not
    with server.client("admin") as admin:
        user_id, _email, token = _new_user(admin)
        assert admin.patch(f"/api/v1/users/{user_id}", json={"name": "Renamed"}).is_success
    with _bearer(server, token) as user:
        me = user.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["name"] == "Renamed"


# -- deactivation ----------------------------------------------------------------------------


def test_deactivation_ends_sessions_login_and_keys_at_once(server: ApiServer) -> None:
    engine = get_engine(server.settings.database_url)
    with server.client("admin") as admin:
        # Given an editor, signed in, with an API key of their own
        user_id, email, token = _new_user(admin)
        with session_scope(engine, write=True) as session:
            _row, key = create_api_key(session, "their ci", "editor", owner_id=user_id)
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as machine:
            assert machine.get("/api/v1/runs").status_code == 200
            # When an admin deactivates them
            deactivated = admin.post(f"/api/v1/users/{user_id}/deactivate")
            # Then the token and the key stop at once, and signing in fails as a wrong password does
            with _bearer(server, token) as user:
                me = user.get("/api/v1/auth/me")
            keyed = machine.get("/api/v1/runs")
            login = _login(server, email)
            wrong = _login(server, email, "not the password at all")
            # When they are activated again, they sign in; the key stays revoked
            activated = admin.post(f"/api/v1/users/{user_id}/activate")
            back = _login(server, email)
            still = machine.get("/api/v1/runs")
            keys = admin.get("/api/v1/keys").json()["items"]
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    _assert_problem(me, 401, "sign in again")
    _assert_problem(keyed, 401)
    assert (login.status_code, login.json()) == (wrong.status_code, wrong.json())
    assert activated.status_code == 200 and activated.json()["active"] is True
    assert back.status_code == 200
    _assert_problem(still, 401, "revoked")
    [theirs] = [k for k in keys if k["name"] == "their ci"]
    assert theirs["revoked_at"] is not None


def test_an_old_token_stays_dead_after_reactivation(server: ApiServer) -> None:
    with server.client("admin") as admin:
        user_id, _email, token = _new_user(admin)
        assert admin.post(f"/api/v1/users/{user_id}/deactivate").is_success
        assert admin.post(f"/api/v1/users/{user_id}/activate").is_success
    with _bearer(server, token) as user:
        _assert_problem(user.get("/api/v1/auth/me"), 401)


# -- who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "editor"])
@pytest.mark.parametrize("via", ["token", "key"])
def test_only_admins_deactivate_activate_or_delete_users(
    server: ApiServer, role: str, via: str
) -> None:
    target = server.user("viewer").id
    with server.client(role, via=via) as client:
        answers = [
            client.post(f"/api/v1/users/{target}/deactivate"),
            client.post(f"/api/v1/users/{target}/activate"),
            client.delete(f"/api/v1/users/{target}"),
            client.patch(f"/api/v1/users/{target}", json={"password": NEW_PASSWORD}),
        ]
    for answer in answers:
        _assert_problem(answer, 403, "admin")
    assert _login(server, "viewer@example.com").status_code == 200


def test_unknown_users_are_404(server: ApiServer) -> None:
    with server.client("admin") as admin:
        answers = [
            admin.post("/api/v1/users/999999/deactivate"),
            admin.post("/api/v1/users/999999/activate"),
            admin.delete("/api/v1/users/999999"),
        ]
    for answer in answers:
        _assert_problem(answer, 404, "no user 999999")


def test_an_admin_cannot_deactivate_themselves(server: ApiServer) -> None:
    me = server.user("admin").id
    with server.client("admin") as admin:
        _assert_problem(admin.post(f"/api/v1/users/{me}/deactivate"), 400, "yourself")
        assert admin.get("/api/v1/auth/me").json()["active"] is True


def test_the_last_active_admin_stays(tmp_path: Path) -> None:
    # A server of its own: here admin@example.com is the only admin user
    api = ApiServer(make_settings(tmp_path, rate_limit="100000 per minute")).start()
    try:
        only = api.user("admin").id
        with api.client("admin", via="key") as key, api.client("admin") as admin:
            # Given one active admin, nobody (not an admin key, not themselves) removes them
            refusals = [
                key.post(f"/api/v1/users/{only}/deactivate"),
                key.patch(f"/api/v1/users/{only}", json={"role": "editor"}),
                key.patch(f"/api/v1/users/{only}", json={"active": False}),
                key.delete(f"/api/v1/users/{only}"),
                admin.delete(f"/api/v1/users/{only}"),
            ]
            me = admin.get("/api/v1/auth/me")
            # When a second admin exists, the first may go, and the second is then the last
            second_id, _email, second_token = _new_user(admin, "admin")
            with _bearer(api, second_token) as second:
                removed = second.delete(f"/api/v1/users/{only}")
                last = key.delete(f"/api/v1/users/{second_id}")
                still = second.get("/api/v1/auth/me")
    finally:
        api.stop()
    for refusal in refusals:
        _assert_problem(refusal, 409, "admin@example.com", "last active admin")
    assert me.status_code == 200 and me.json()["role"] == "admin" and me.json()["active"]
    assert removed.status_code == 204
    _assert_problem(last, 409, "last active admin")
    assert still.status_code == 200


def test_a_deactivated_admin_does_not_count_as_the_remaining_admin(tmp_path: Path) -> None:
    api = ApiServer(make_settings(tmp_path, rate_limit="100000 per minute")).start()
    try:
        engine = get_engine(api.settings.database_url)
        with session_scope(engine, write=True) as session:
            dormant = create_user(session, "dormant@example.com", PASSWORD, "admin")
            dormant.active = False
        only = api.user("admin").id
        with api.client("admin", via="key") as key:
            refused = key.post(f"/api/v1/users/{only}/deactivate")
    finally:
        api.stop()
    _assert_problem(refused, 409, "last active admin")


def test_tokens_issued_before_and_after_a_change_differ_only_by_version(
    server: ApiServer,
) -> None:
    # A token made for the user as they are now works; one for who they were does not
    engine = get_engine(server.settings.database_url)
    with server.client("admin") as admin:
        user_id, _email, _token = _new_user(admin)
        with session_scope(engine) as session:
            before = session.get(User, user_id)
            assert before is not None
            stale = issue_token(SECRET, before)
        assert admin.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}).is_success
        with session_scope(engine) as session:
            after = session.get(User, user_id)
            assert after is not None
            current = issue_token(SECRET, after)
    assert after.uid == before.uid and after.token_version == before.token_version + 1
    with _bearer(server, stale) as old, _bearer(server, current) as new:
        _assert_problem(old.get("/api/v1/auth/me"), 401)
        assert new.get("/api/v1/auth/me").json()["role"] == "viewer"
