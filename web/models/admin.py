"""The admin blueprint's models: users, API keys and target secrets."""

from __future__ import annotations

from pydantic import AnyHttpUrl, BaseModel, Field

from web.models.common import Role, Strict, UserOut


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=10, max_length=1024)
    name: str = Field("", max_length=200)
    role: Role = "viewer"


class UserUpdate(Strict):
    role: Role | None = None
    active: bool | None = None
    name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=10, max_length=1024)


class UserList(BaseModel):
    items: list[UserOut]


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Role = "viewer"


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="the key itself: shown once, store it now")


class KeyList(BaseModel):
    items: list[KeyOut]


class SecretIn(Strict):
    origin: AnyHttpUrl
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    value: dict[str, str] = Field(description="e.g. {'username': ..., 'password': ...}")


class SecretRef(Strict):
    origin: AnyHttpUrl
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class SecretOut(BaseModel):
    origin: str
    name: str
    key_id: str
    created_at: str
    updated_at: str


class SecretList(BaseModel):
    items: list[SecretOut]
