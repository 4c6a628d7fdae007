"""Turning account rows into API models."""

from __future__ import annotations

from matf.storage.models import ApiKey, User
from web.models.admin import KeyOut
from web.models.common import UserOut
from web.routes.common import iso, iso_req


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(
        {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "active": user.active,
            "created_at": iso_req(user.created_at),
            "last_login_at": iso(user.last_login_at),
        }
    )


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut.model_validate(
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "role": key.role,
            "created_at": iso_req(key.created_at),
            "last_used_at": iso(key.last_used_at),
            "revoked_at": iso(key.revoked_at),
        }
    )
