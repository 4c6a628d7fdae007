"""The OpenAPI document and interactive docs (Swagger UI, served from the package)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    send_from_directory,
)

bp = Blueprint("docs", __name__)

SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}


def _swagger_dir() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


@bp.get("/openapi.json")
def openapi() -> Response:
    from web.routes import PREFIXES, api

    document = current_app.config.get("MATF_OPENAPI")
    if document is None:
        document = api.document(PREFIXES)
        current_app.config["MATF_OPENAPI"] = document
    return jsonify(document)


@bp.get("/docs")
def docs() -> str:
    return render_template("docs.html")


@bp.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    if name not in SWAGGER_FILES:
        abort(404)
    return send_from_directory(_swagger_dir(), name, max_age=3600)
