"""Users, API keys and target secrets: admins only."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.auth import (
    Principal,
    change_role,
    check_name,
    create_api_key,
    create_user,
    delete_user,
    revoke_api_key,
    set_active,
    set_password,
)
from matf.errors import NotFound, UsageError
from matf.secrets.keyring import keyring_from_settings
from matf.secrets.store import SecretInfo, delete_secret, list_secrets, put_secret
from matf.storage.models import ApiKey, User
from web.models.admin import (
    KeyCreate,
    KeyCreated,
    KeyList,
    SecretIn,
    SecretList,
    SecretOut,
    SecretRef,
    UserCreate,
    UserList,
    UserUpdate,
)
from web.models.common import UserOut
from web.routes import api
from web.routes.common import db, iso_req, settings
from web.routes.users import key_out, user_out
from web.security import authorize

bp = Blueprint("admin", __name__)


@api.endpoint(bp, "/users", role="admin", summary="Every user", response=UserList)
def users() -> UserList:
    with db() as session:
        rows = session.scalars(select(User).order_by(User.id)).all()
        return UserList(items=[user_out(u) for u in rows])


@api.endpoint(
    bp,
    "/users",
    "POST",
    role="admin",
    summary="Add a user (viewer unless told)",
    body=UserCreate,
    response=UserOut,
    status=201,
    errors=(400, 409),
)
def add_user(body: UserCreate) -> UserOut:
    with db(write=True) as session:
        user = create_user(session, body.email, body.password, body.role, body.name)
        out = user_out(user)
    return out


@api.endpoint(
    bp,
    "/users/<int:user_id>",
    "PATCH",
    role="admin",
    summary="Change a user's role, name or password, or disable them",
    body=UserUpdate,
    response=UserOut,
    errors=(400, 404, 409),
)
def edit_user(user_id: int, body: UserUpdate) -> UserOut:
    """A new role, password or ``active: false`` ends the user's sessions at once."""
    me = authorize("admin")
    if body.name is not None:
        check_name("a user's name", body.name)
    if _is_me(me, user_id) and (body.role not in (None, "admin") or body.active is False):
        raise UsageError("you cannot demote or disable yourself: ask another admin")
    revoked: list[int] = []
    with db(write=True) as session:
        user = _user(session, user_id)
        if body.role is not None:
            change_role(session, user, body.role)
        if body.active is not None:
            revoked = set_active(session, user, body.active)
        if body.password is not None:
            set_password(user, body.password)
        if body.name is not None:
            user.name = body.name
        out = user_out(user)
    _forget_keys(revoked)
    return out


@api.endpoint(
    bp,
    "/users/<int:user_id>/deactivate",
    "POST",
    role="admin",
    summary="Deactivate a user: sessions end and their API keys are revoked, at once",
    response=UserOut,
    errors=(400, 404, 409),
)
def deactivate_user(user_id: int) -> UserOut:
    if _is_me(authorize("admin"), user_id):
        raise UsageError("you cannot disable yourself: ask another admin")
    with db(write=True) as session:
        user = _user(session, user_id)
        revoked = set_active(session, user, False)
        out = user_out(user)
    _forget_keys(revoked)
    return out


@api.endpoint(
    bp,
    "/users/<int:user_id>/activate",
    "POST",
    role="admin",
    summary="Let a deactivated user sign in again (their revoked keys stay revoked)",
    response=UserOut,
    errors=(404,),
)
def activate_user(user_id: int) -> UserOut:
    with db(write=True) as session:
        user = _user(session, user_id)
        set_active(session, user, True)
        return user_out(user)


@api.endpoint(
    bp,
    "/users/<int:user_id>",
    "DELETE",
    role="admin",
    summary="Delete a user: sessions end and their API keys are revoked, at once",
    status=204,
    errors=(404, 409),
)
def remove_user(user_id: int) -> None:
    with db(write=True) as session:
        revoked = delete_user(session, _user(session, user_id))
    _forget_keys(revoked)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def _is_me(me: Principal, user_id: int) -> bool:
    return me.kind == "user" and me.id == user_id


def _forget_keys(key_ids: list[int]) -> None:
    cache = current_app.config["MATF_KEY_CACHE"]
    for key_id in key_ids:
        cache.forget(key_id)


@api.endpoint(
    bp, "/keys", role="admin", summary="Every API key (never the key itself)", response=KeyList
)
def keys() -> KeyList:
    with db() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        return KeyList(items=[key_out(k) for k in rows])


@api.endpoint(
    bp,
    "/keys",
    "POST",
    role="admin",
    summary="Make an API key: shown once",
    body=KeyCreate,
    response=KeyCreated,
    status=201,
    errors=(400,),
)
def add_key(body: KeyCreate) -> KeyCreated:
    me = authorize("admin")
    with db(write=True) as session:
        row, plain = create_api_key(
            session, body.name, body.role, me.id if me.kind == "user" else None
        )
        out = KeyCreated.model_validate({**key_out(row).model_dump(), "key": plain})
    return out


@api.endpoint(
    bp,
    "/keys/<int:key_id>",
    "DELETE",
    role="admin",
    summary="Revoke an API key",
    status=204,
    errors=(404,),
)
def revoke_key(key_id: int) -> None:
    with db(write=True) as session:
        if revoke_api_key(session, key_id) is None:
            raise NotFound(f"no API key {key_id}")
    current_app.config["MATF_KEY_CACHE"].forget(key_id)


@api.endpoint(
    bp,
    "/secrets",
    role="admin",
    summary="Stored target credentials (never values)",
    response=SecretList,
)
def secrets_list() -> SecretList:
    with db() as session:
        items = [_secret_out(info) for info in list_secrets(session)]
    return SecretList(items=items)


@api.endpoint(
    bp,
    "/secrets",
    "PUT",
    role="admin",
    summary="Store a target credential, encrypted; the value is never returned",
    body=SecretIn,
    response=SecretOut,
    errors=(400, 503),
)
def secrets_put(body: SecretIn) -> SecretOut:
    keyring = keyring_from_settings(settings())
    with db(write=True) as session:
        info = put_secret(session, keyring, str(body.origin), body.name, dict(body.value))
    return _secret_out(info)


@api.endpoint(
    bp,
    "/secrets",
    "DELETE",
    role="admin",
    summary="Forget a target credential",
    query=SecretRef,
    status=204,
    errors=(404,),
)
def secrets_delete(query: SecretRef) -> None:
    with db(write=True) as session:
        if not delete_secret(session, str(query.origin), query.name):
            raise NotFound(f"no secret {query.name!r} for {query.origin}")


def _secret_out(info: SecretInfo) -> SecretOut:
    return SecretOut(
        origin=info.origin,
        name=info.name,
        key_id=info.key_id,
        created_at=iso_req(info.created_at),
        updated_at=iso_req(info.updated_at),
    )
