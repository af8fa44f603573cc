"""POST /t/r: the viewer's read-time reports (fetch while reading, sendBeacon on close).

No login and no CSRF token: the ingest token in the body is the credential, and it is good for
one view session only. Answers are JSON, or {"error": {...}}: 202 with what was stored (direct
path: {"accepted", "duplicates", "credited_ms"}), or, with Redis, 202 {"queued": n} once the
batch is safely queued (portal.tracking.ingest_queue). The viewer script reads only the status.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request
from flask_limiter.util import get_remote_address

from portal.extensions import csrf, limiter
from portal.routes import json_errors
from portal.tracking import ingest, ingest_path

bp = Blueprint("tracking", __name__)
csrf.exempt(bp)
json_errors.register(bp)  # RateLimited carries its Retry-After and X-RateLimit-*


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
