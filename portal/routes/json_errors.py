"""The one translation of errors into JSON, {"error": {"code", "message"}} plus "field" when the
error concerns one member of the request: the API (/api/v1),
the viewer's /t/r, and the app-wide handlers for paths under /api/ (portal.routes.errors)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError
from portal.extensions import db

log = logging.getLogger(__name__)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    field: str | None = None,
) -> Response:
    body: dict[str, str] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    response.headers.update(headers or {})
    return response


def portal_error(exc: PortalError) -> Response:
    """A service's refusal: its status, code, message and field (and headers it carries, such as
    a rate limit's Retry-After); nothing of the request's transaction is kept."""
    db.session.rollback()
    headers = getattr(exc, "headers", None)
    return error_response(exc.status, exc.code, exc.message, headers, field=exc.field)


def http_error(exc: HTTPException) -> Response:
    """404, 405, 413 … from Flask: the code is the status's name in snake case."""
    db.session.rollback()
    status = exc.code or 500
    # A 503 is an answer Portal chose (a service is down: portal.routes.errors logs the outage
    # once), not a crash: no traceback for it.
    if status >= 500 and status != 503:
        log.error("%s on %s %s", status, request.method, request.path, exc_info=True)
    code = (exc.name or "error").lower().replace(" ", "_")
    # Keep what the exception says about the response (Allow on 405, Retry-After on 429).
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_response(status, code, exc.description or exc.name, headers)


def register(blueprint: Blueprint) -> None:
    """Answer this blueprint's errors in JSON."""
    blueprint.register_error_handler(PortalError, portal_error)
    blueprint.register_error_handler(HTTPException, http_error)
