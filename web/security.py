"""Who is asking, may they, and the headers every answer carries.

Credentials, in the order they are looked for:
- ``Authorization: Bearer <JWT>`` (from ``POST /api/v1/auth/login``);
- ``X-API-Key: <key>`` (machines; keys carry a role, stored hashed);
- the dashboard's ``matf_session`` cookie (HttpOnly, SameSite=Strict), which
  on unsafe methods also needs the ``X-CSRF-Token`` header to equal the
  ``matf_csrf`` cookie (double submit), so another site cannot ride it;
- the ``API_KEY`` setting, when set, is a bootstrap admin key for automation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, request

from matf.auth import (
    Principal,
    decode_token,
    key_is_stale,
    key_principal,
    touch_key,
    user_principal,
)
from matf.errors import AuthError, Forbidden
from matf.settings import Settings
from matf.storage.db import session_scope

SESSION_COOKIE = "matf_session"
CSRF_COOKIE = "matf_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def settings() -> Settings:
    return current_app.config["MATF_SETTINGS"]  # type: ignore[no-any-return]


def current_principal() -> Principal | None:
    """The principal of this request, resolved once; None without credentials."""
    if "principal" not in g:
        g.principal = _resolve()
    return g.principal  # type: ignore[no-any-return]


def authorize(role: str) -> Principal:
    """The principal, if it holds ``role`` or above; else 401 or 403."""
    principal = current_principal()
    if principal is None:
        raise AuthError("sign in, or send a bearer token or an X-API-Key header")
    if not principal.can(role):
        raise Forbidden(f"this needs the role {role}; you are {principal.role}")
    return principal


def _resolve() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return _from_token(token.strip())
    key = request.headers.get("X-API-Key")
    if key is not None:
        return _from_key(key.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if request.method not in SAFE_METHODS:
            _check_csrf()
        return _from_token(cookie)
    return None


def _from_token(token: str) -> Principal:
    claims = decode_token(jwt_secret(), token)
    with session_scope(current_app.config["MATF_ENGINE"]) as session:
        return user_principal(session, claims)


def _from_key(key: str) -> Principal:
    bootstrap = settings().api_key
    if bootstrap and hmac.compare_digest(bootstrap.encode(), key.encode()):
        return Principal("key", 0, "API_KEY", "admin")
    cache: KeyCache = current_app.config["MATF_KEY_CACHE"]
    principal = cache.get(key)
    if principal is not None:
        return principal
    engine = current_app.config["MATF_ENGINE"]
    with session_scope(engine) as session:
        principal, last_used = key_principal(session, key)
    if key_is_stale(last_used):
        with session_scope(engine, write=True) as session:
            touch_key(session, principal.id)
    cache.put(key, principal)
    return principal


class KeyCache:
    """API keys already checked, for a few seconds: a machine calls many times a second.

    Keyed by the key's SHA-256, never the key. Revoking a key through this
    process forgets it at once; other processes of the deployment notice
    within ``ttl_s`` (5 s).
    """

    def __init__(self, ttl_s: float = 5.0, size: int = 1024) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl_s, principal)

    def forget(self, key_id: int) -> None:
        with self._lock:
            for digest, (_expiry, principal) in list(self._entries.items()):
                if principal.id == key_id:
                    del self._entries[digest]


def _check_csrf() -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get("X-CSRF-Token", "") or request.form.get("csrf_token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page")


def jwt_secret() -> str:
    return current_app.config["MATF_JWT_SECRET"]  # type: ignore[no-any-return]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def client_key() -> str:
    """The rate limit's bucket: the principal when known, else the client address."""
    try:
        principal = current_principal()
    except Exception:  # noqa: BLE001 - bad credentials are limited by address
        principal = None
    if principal is not None:
        return f"{principal.kind}:{principal.id}"
    return request.remote_addr or "unknown"


def install_headers(app: Flask) -> None:
    """The guide's security headers on every answer; HSTS only over TLS."""

    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response: Response) -> Response:
        nonce = g.get("csp_nonce", "")
        docs = request.path == "/docs"
        policy = [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'" + (" 'unsafe-inline'" if docs else ""),
            "img-src 'self' data:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "frame-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
        headers: dict[str, Any] = {
            "Content-Security-Policy": "; ".join(policy),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        }
        if request.is_secure:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
