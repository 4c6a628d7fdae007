"""The blueprints, and the one ``Api`` registry their endpoints are declared in."""

from __future__ import annotations

from flask import Flask

from web.openapi import Api

api = Api("MATF", "1.0")

PREFIXES = {
    "system": "",
    "auth": "/api/v1/auth",
    "runs": "/api/v1",
    "catalog": "/api/v1",
    "admin": "/api/v1",
    "visual": "/api/v1",
    "healing": "/api/v1",
    "optimizer": "/api/v1",
}


def register_blueprints(app: Flask) -> None:
    from web import dashboard, live, optimizer_page  # noqa: F401 - the page's route, on dashboard.bp
    from web.routes import admin, auth, catalog, docs, healing, optimizer, runs, system, visual

    for module in (system, auth, runs, catalog, admin, visual, healing, optimizer):
        app.register_blueprint(module.bp, url_prefix=PREFIXES[module.bp.name] or None)
    app.register_blueprint(docs.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(dashboard.bp)
