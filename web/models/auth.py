"""The auth blueprint's models: signing in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from web.models.common import Role, Strict


class LoginRequest(Strict):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    role: Role
