"""Live "reading now" for staff pages: `GET /live` (Server-Sent Events) and `GET /live/now`
(the same readers as JSON, for polling). Staff session only."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask_login import current_user

from portal.extensions import limiter
from portal.live import services

bp = Blueprint("live", __name__, url_prefix="/live")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.app_context_processor
def _live() -> dict:
    return {"live_streams": services.streams_available}


@bp.get("")
@limiter.exempt
def stream():
    try:
        body = services.open_stream(current_user)
    except services.StreamRefused as exc:
        answer = Response(exc.message, status=503, mimetype="text/plain")
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@bp.get("/now")
@limiter.exempt
def now():
    response = jsonify(services.now_reading(current_user))
    response.headers["Cache-Control"] = "no-store"
    return response
