"""The API blueprint and what every API route uses: the bearer-token check, the caller, the
JSON body. Its errors are answered by portal.routes.json_errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from portal import jobs
from portal.accounts.models import User
from portal.accounts.services import user_for_token
from portal.errors import PortalError
from portal.extensions import csrf
from portal.routes import json_errors

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
json_errors.register(bp)

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return json_errors.error_response(
            401, "unauthorized", "a valid API token is required (Authorization: Bearer <token>)"
        )
    g.api_user = user
    jobs.commit()  # records last_used_at
    return None


def api_user() -> User:
    return g.api_user


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a clear 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PortalError("the body must be a JSON object (Content-Type: application/json)")
    return body
