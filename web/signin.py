"""What guards signing in: attempts counted and throttled, and the login form's CSRF token.

The API's ``POST /api/v1/auth/login`` and the dashboard's ``POST /login`` both
wrap their password check in ``counted_sign_in`` (``matf.throttle`` keeps the
counts, per account and per client address as ``client_key`` sees it, which
honours ``MATF_PROXY_COUNT``).

The login form is posted before there is a session, so the session's
double-submit token cannot protect it. It gets its own: a random value in an
HttpOnly ``matf_login_csrf`` cookie (path ``/login``, SameSite=Strict) and, in
the form, that value signed with the server's secret. Another site can neither
read the form nor, without the secret, forge a pair that matches (even if it
could plant a cookie), so it cannot sign a victim in to the attacker's account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g, request
from werkzeug.wrappers.response import Response

from matf.errors import AuthError, TooManyAttempts, UsageError
from matf.throttle import LoginThrottle
from web.security import client_key, jwt_secret, settings

LOGIN_CSRF_COOKIE = "matf_login_csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@contextmanager
def counted_sign_in(email: str) -> Iterator[None]:
    """Count a sign-in for ``email`` from this client around its password check.

    Raises ``TooManyAttempts`` (429) before the check while the account or the
    address must wait, whether the account exists or not. An ``AuthError``
    from the check stays counted; success forgets the account's failures;
    any other error gives the attempt back.
    """
    throttle: LoginThrottle = current_app.config["MATF_LOGIN_THROTTLE"]
    try:
        attempt = throttle.begin(email, client_key())
    except TooManyAttempts as exc:
        g.retry_after_s = exc.retry_after_s
        raise
    try:
        yield
    except AuthError:
        raise
    except BaseException:
        attempt.abandoned()
        raise
    attempt.succeeded()


def install_signin(app: Flask) -> None:
    """Answer a refused sign-in's Retry-After as the throttle said.

    Must be installed before the rate limiter: Flask runs ``after_request``
    functions last-registered first, and flask-limiter's would replace the
    header with its own window's reset (up to ``RATE_LIMIT``'s whole window).
    """

    @app.after_request
    def _retry_after(response: Response) -> Response:
        seconds = g.get("retry_after_s")
        if seconds is not None:
            response.headers["Retry-After"] = str(seconds)
        return response


def login_form_token() -> tuple[str, str | None]:
    """The form's signed token, and a new cookie value to set (None: the browser has one)."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    fresh = None
    if not _TOKEN.fullmatch(cookie):
        cookie = fresh = secrets.token_urlsafe(24)
    return _sign(cookie), fresh


def set_login_cookie(response: Response, value: str | None) -> Response:
    if value is not None:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            value,
            path="/login",
            httponly=True,
            secure=settings().matf_env == "production" or request.is_secure,
            samesite="Strict",
        )
    return response


def check_login_csrf() -> None:
    """UsageError (400) unless the form's token is the signature of the cookie's value."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = request.form.get("csrf_token", "")
    if not _TOKEN.fullmatch(cookie) or not hmac.compare_digest(_sign(cookie), sent):
        raise UsageError("this sign-in form expired or did not come from this site: try again")


def _sign(value: str) -> str:
    message = b"matf-login-csrf:" + value.encode()
    return hmac.new(jwt_secret().encode(), message, hashlib.sha256).hexdigest()
