"""What several blueprints' models share: the strict base, the problem document, a user.

``UserOut`` is here because both ``auth`` (``/me``) and ``admin`` answer it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["viewer", "editor", "admin"]


class Strict(BaseModel):
    """A request model: a field it does not declare is an error."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error the API answers."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: str
    last_login_at: str | None
