"""Every error the API answers is an RFC 9457 problem document.

MATF's own errors carry their HTTP status; Flask's (404 of an unknown path,
405) keep theirs; anything unexpected is a 500 whose detail is an id to find
the trace in the log, never the trace itself.
"""

from __future__ import annotations

import logging
import secrets
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from matf.errors import MatfError
from web.bodies import too_large
from web.openapi import RequestInvalid

log = logging.getLogger("matf.web")


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = [{str(k): str(v) for k, v in e.items()} for e in errors]
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="matf"'
    return response


def install_errors(app: Flask) -> None:
    @app.errorhandler(MatfError)
    def _matf(exc: MatfError) -> Response:
        status = exc.http_status
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        errors = exc.errors if isinstance(exc, RequestInvalid) else None
        return problem(status, exc.message, errors)

    @app.errorhandler(RateLimitExceeded)
    def _limited(exc: RateLimitExceeded) -> Response:
        response = problem(429, f"too many requests: the limit is {exc.description}")
        retry = getattr(exc, "retry_after", None)
        response.headers["Retry-After"] = str(max(int(retry or 1), 1))
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = {
            404: f"no such resource: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: too_large(),
        }.get(status, exc.description or HTTPStatus(status).phrase)
        response = problem(status, detail)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        incident = secrets.token_hex(6)
        log.error(
            "internal error %s on %s %s", incident, request.method, request.path, exc_info=exc
        )
        return problem(500, f"internal error (incident {incident}); the details are in the log")
