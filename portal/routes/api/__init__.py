"""JSON API under /api/v1, authenticated with `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.accounts.models import User
from portal.accounts.services import user_for_token
from portal.errors import PortalError
from portal.extensions import csrf, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

PUBLIC_ENDPOINTS = {"api.openapi"}


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    return response


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return error_response(
            401, "unauthorized", "a valid API token is required (Authorization: Bearer <token>)"
        )
    g.api_user = user
    db.session.commit()  # records last_used_at
    return None


def api_user() -> User:
    return g.api_user


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a clear 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PortalError("the body must be a JSON object (Content-Type: application/json)")
    return body


@bp.errorhandler(PortalError)
def portal_error(exc: PortalError):
    db.session.rollback()
    return error_response(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    db.session.rollback()
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(exc.code or 500, code, exc.description or exc.name)


from portal.routes.api import (  # noqa: E402, F401  (register the routes)
    accounts,
    audit,
    customers,
    deals,
    deliveries,
    exchange,
    inbound_events,
    openapi,
    recommendations,
    tasks,
    templates,
)
