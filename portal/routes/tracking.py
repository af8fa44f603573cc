"""POST /t/r: the viewer's read-time reports (fetch while reading, sendBeacon on close).

No login and no CSRF token: the ingest token in the body is the credential, and it is good for
one view session only. Answers are JSON, or {"error": {...}}: 202 with what was stored (direct
path: {"accepted", "duplicates", "credited_ms"}), or, with Redis, 202 {"queued": n} once the
batch is safely queued (portal.tracking.ingest_queue). The viewer script reads only the status.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError
from portal.extensions import csrf, db, limiter
from portal.routes.api import error_response
from portal.tracking import ingest, ingest_path
from portal.tracking.ingest_rate import RateLimited

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)
csrf.exempt(bp)


def _body() -> Any:
    request.max_content_length = ingest.MAX_BODY_BYTES  # 413 before a large body is read
    return ingest.parse_body(request.get_data())


def _rate_limit_key(token: Any) -> str:
    """Who TRACKING_RATE_LIMIT counts: this reading session from this address."""
    return f"{token if isinstance(token, str) else ''}|{get_remote_address()}"


@bp.post("/t/r")
# A reader sends ~6/minute: TRACKING_RATE_LIMIT is counted by the ingest service itself (queued,
# in the enqueue's one Redis round trip), not by Flask-Limiter's per-request machinery.
@limiter.exempt
def collect():
    body = _body()
    token = ingest.token_of(body)
    answer, status, headers = ingest_path.receive(token, body, _rate_limit_key(token))
    return Response(
        json.dumps(answer, separators=(",", ":")),
        status=status,
        headers={**headers, "Cache-Control": "no-store"},
        mimetype="application/json",
    )


@bp.errorhandler(PortalError)
def _portal_error(exc: PortalError):
    db.session.rollback()
    response = error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, RateLimited):
        response.headers.update(exc.headers)
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    status = exc.code or 500
    if status >= 500:
        log.error("%s on %s %s", status, request.method, request.path, exc_info=True)
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(status, code, exc.description or exc.name)
