"""Rate limiting: per client, in Redis when distributed so every process shares counts."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from matf.settings import Settings
from web.security import client_key

UNLIMITED_PREFIXES = (
    "/static/",
    "/health",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/ws",
    "/api/v1/system/health",
)


def install_limiter(app: Flask, settings: Settings) -> Limiter:
    """RATE_LIMIT (default 100 per 15 minutes) on the API and the login form."""
    limiter = Limiter(
        key_func=client_key,
        app=app,
        application_limits=[settings.rate_limit],  # one count per client, all routes
        storage_uri=settings.redis_url or "memory://",
        storage_options={"socket_connect_timeout": 2} if settings.redis_url else {},
        strategy="moving-window",  # exact: no burst of twice the limit at a window edge
        headers_enabled=True,
        swallow_errors=True,
        key_prefix="matf-rl",
    )

    @limiter.request_filter
    def _exempt() -> bool:
        path = request.path
        return path.startswith(UNLIMITED_PREFIXES) or not (
            path.startswith("/api/") or path in ("/login",)
        )

    return limiter
