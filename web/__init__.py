"""MATF's server face: the API, the live dashboard and access control.

``create_app(settings=None)`` is the factory (no work at import time); gunicorn
serves ``web.wsgi:app`` in production, ``matf serve`` does the same for you.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from matf.errors import ConfigError
from matf.netguard import NetworkPolicy
from matf.secrets.production import check_production
from matf.settings import Settings, load_settings
from matf.storage.db import get_engine
from matf.throttle import LoginThrottle
from tasks.control import Platform
from web.bodies import MAX_BYTES
from web.security import KeyCache

log = logging.getLogger("matf.web")
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, runtime: Platform | None = None) -> Flask:
    """Build the app for ``settings``; refuse unsafe production settings first."""
    settings = settings or load_settings()
    check_production(settings)
    NetworkPolicy.guard(settings.matf_allowed_targets)  # a bad allow-list fails here, named
    app = Flask(__name__)
    app.config.update(
        MATF_SETTINGS=settings,
        MATF_ENGINE=get_engine(settings.database_url),
        MATF_RUNTIME=runtime or Platform(settings),
        MATF_JWT_SECRET=settings.jwt_secret or _development_secret(settings),
        MATF_KEY_CACHE=KeyCache(),
        MATF_LOGIN_THROTTLE=LoginThrottle.for_settings(settings),
        MAX_CONTENT_LENGTH=MAX_BYTES,
        SESSION_COOKIE_SECURE=settings.matf_env == "production",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.matf_proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.matf_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from web.errors import install_errors
    from web.limits import install_limiter
    from web.metrics import install_metrics
    from web.routes import register_blueprints
    from web.security import install_headers
    from web.signin import install_signin

    install_errors(app)
    install_headers(app)
    install_signin(app)  # before the limiter: see its docstring
    install_limiter(app, settings)
    register_blueprints(app)
    install_metrics(app, settings, _status_provider(app.config["MATF_RUNTIME"]))
    return app


def _status_provider(runtime: Platform) -> Any:
    """What /metrics reports of agents and queues, read the way the API reads them."""

    def provide() -> tuple[list[dict[str, Any]], dict[str, int | None]]:
        return runtime.agents_status(), runtime.queue_lengths()

    return provide


def _development_secret(settings: Settings) -> str:
    """Outside production, a JWT secret kept beside the data, made on first start.

    Every process of one deployment must sign with the same secret, so a random
    per-process one would not do; production refuses to start without one.
    """
    path = Path(settings.storage_path).parent / ".jwt-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        with open(path, "x", encoding="utf-8") as handle:  # another process may win the race
            handle.write(secret)
        path.chmod(0o600)
        log.warning("JWT_SECRET is not set: using a generated one kept in %s", path)
        return secret
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"JWT_SECRET is not set and {path} cannot be written: {exc}") from exc
