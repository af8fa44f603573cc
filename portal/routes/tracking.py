"""POST /t/r: the viewer's read-time reports (fetch while reading, sendBeacon on close).

No login and no CSRF token: the ingest token in the body is the credential, and it is good for
one view session only. Answers are JSON: 202 with what was stored, or {"error": {...}}.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError
from portal.extensions import csrf, db, limiter
from portal.routes.api import error_response
from portal.tracking import ingest

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)
csrf.exempt(bp)

DEFAULT_RATE_LIMIT = "120/minute"  # per session token and address; a reader sends ~6/minute
_BODY = "portal.tracking.body"


def _body() -> Any:
    """The parsed body, read once per request (the rate-limit key needs the token too)."""
    if _BODY not in request.environ:
        try:
            request.max_content_length = ingest.MAX_BODY_BYTES
            request.environ[_BODY] = ingest.parse_body(request.get_data(cache=True))
        except (PortalError, HTTPException) as exc:
            request.environ[_BODY] = exc
    body = request.environ[_BODY]
    if isinstance(body, Exception):
        raise body
    return body


def _rate_limit() -> str:
    return current_app.config.get("TRACKING_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def _rate_limit_key() -> str:
    try:
        token = ingest.token_of(_body())
    except (PortalError, HTTPException):
        token = None  # the view answers the error
    return f"{token if isinstance(token, str) else ''}|{get_remote_address()}"


@bp.post("/t/r")
@limiter.limit(_rate_limit, key_func=_rate_limit_key)
def collect():
    body = _body()
    result = ingest.ingest_batch(ingest.token_of(body), body)
    response = jsonify(result.as_json())
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(PortalError)
def _portal_error(exc: PortalError):
    db.session.rollback()
    return error_response(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    status = exc.code or 500
    if status >= 500:
        log.error("%s on %s %s", status, request.method, request.path, exc_info=True)
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(status, code, exc.description or exc.name)
