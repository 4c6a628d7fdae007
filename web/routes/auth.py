"""Signing in: a JWT for API clients (the dashboard keeps it in an HttpOnly cookie)."""

from __future__ import annotations

from flask import Blueprint

from matf.auth import authenticate, issue_token
from matf.errors import AuthError, NotFound
from matf.storage.models import User
from web.models.auth import LoginRequest, TokenOut
from web.models.common import UserOut
from web.routes import api
from web.routes.common import db, settings
from web.routes.users import user_out
from web.security import authorize, jwt_secret
from web.signin import counted_sign_in

bp = Blueprint("auth", __name__)


@api.endpoint(
    bp,
    "/login",
    "POST",
    role=None,
    summary="Sign in: a bearer token for 24 hours",
    body=LoginRequest,
    response=TokenOut,
    errors=(401, 429),
    notes={
        429: "Too many requests, or too many failed sign-ins for this account or from this "
        "address (whether the account exists or not): wait Retry-After seconds; the right "
        "password is refused too until then"
    },
)
def login(body: LoginRequest) -> TokenOut:
    hours = settings().jwt_expiry_hours
    with counted_sign_in(body.email), db(write=True) as session:
        user = authenticate(session, body.email, body.password)
        token = issue_token(jwt_secret(), user, hours)
        role = user.role
    return TokenOut.model_validate(
        {"access_token": token, "token_type": "bearer", "expires_in": hours * 3600, "role": role}
    )


@api.endpoint(bp, "/me", summary="Who the credentials belong to", response=UserOut, errors=(404,))
def me() -> UserOut:
    principal = authorize("viewer")
    if principal.kind != "user":
        raise NotFound(f"these credentials are an API key ({principal.name}), not a user")
    with db() as session:
        user = session.get(User, principal.id)
        if user is None:
            raise AuthError("invalid token")
        return user_out(user)
