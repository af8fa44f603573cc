"""The API blueprint and what every API route uses: the bearer-token check and the caller.
Its errors are answered by portal.routes.json_errors; bodies are declared and validated with
portal.routes.api.declare."""

from __future__ import annotations

from flask import Blueprint, g, request

from portal import jobs
from portal.accounts.models import User
from portal.accounts.services import user_for_token
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
