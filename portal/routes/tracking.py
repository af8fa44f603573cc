"""POST /t/r: the viewer's read-time reports (fetch while reading, sendBeacon on close), and
POST /t/o: the viewer's confirmation that the document was seen (the open).

No login and no CSRF token: the ingest token in the body is the credential, and it is good for
one view session only. Answers are JSON, or {"error": {...}}: 202 with what was stored (direct
path: {"accepted", "duplicates", "credited_ms"}), or, with Redis, 202 {"queued": n} once the
batch is safely queued (portal.tracking.ingest_queue). The viewer script reads only the status.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request
from flask_limiter.util import get_remote_address

from portal import jobs
from portal.delivery import download_gate, open_confirmation, portal_visits, visitors
from portal.errors import PortalError
from portal.extensions import csrf, limiter
from portal.routes import json_errors, rate_limits
from portal.tracking import ingest, ingest_path

CONFIRM_MAX_BYTES = 4096
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


def _confirmation_body() -> Any:
    """The parsed body of POST /t/o, read once (the rate-limit keys need it too)."""
    if "confirmation_body" not in g:
        request.max_content_length = CONFIRM_MAX_BYTES
        try:
            g.confirmation_body = ingest.parse_body(request.get_data())
        except PortalError:
            g.confirmation_body = None
    return g.confirmation_body


def _confirmed_link() -> str:
    """OPEN_RATE_LIMIT counts confirmations per link (the delivery the token names)."""
    delivery_id = open_confirmation.delivery_of_token(ingest.token_of(_confirmation_body()))
    return f"delivery:{delivery_id if delivery_id is not None else 'unknown'}"


@bp.post("/t/o")
@rate_limits.limit("OPEN_RATE_LIMIT", _confirmed_link)
@rate_limits.limit("OPEN_ADDRESS_RATE_LIMIT", rate_limits.address)
def confirm():
    """The viewer confirms that a page of the document was visible: the open."""
    body = _confirmation_body()
    if body is None:
        ingest.parse_body(request.get_data())  # raises the reason (400, 413)
    token, device = open_confirmation.parse(body)
    # The first-party HttpOnly device cookie, set by the viewer, is the device; a body's "d"
    # only for a browser that kept no cookie.
    device = open_confirmation.device_of(request.cookies.get(visitors.DEVICE_COOKIE)) or device
    confirmation = open_confirmation.confirm_open(
        token, device, user_agent=request.user_agent.string or "", ip=request.remote_addr
    )
    jobs.commit()
    return Response(
        json.dumps(confirmation.as_json(), separators=(",", ":")),
        status=200,
        headers={"Cache-Control": "no-store"},
        mimetype="application/json",
    )


@bp.post("/t/p")
@rate_limits.limit("OPEN_ADDRESS_RATE_LIMIT", rate_limits.address)
def confirm_visit():
    """The portal page confirms it was seen (portal.delivery.portal_visits): the visit."""
    request.max_content_length = CONFIRM_MAX_BYTES
    body = ingest.parse_body(request.get_data())
    recorded = portal_visits.confirm_visit(
        body.get("s") if isinstance(body, dict) else None,
        # the first-party device cookie the portal page set: whose visit it is
        device=open_confirmation.device_of(request.cookies.get(visitors.DEVICE_COOKIE)),
        user_agent=request.user_agent.string or "",
    )
    jobs.commit()
    return Response(
        json.dumps({"visited": recorded}, separators=(",", ":")),
        status=200,
        headers={"Cache-Control": "no-store"},
        mimetype="application/json",
    )


@bp.post("/_gate/drain")
def gate_drain() -> Response:
    """nginx's download gate set the drain flag while replaying a download (deploy/nginx/
    portal_gate.lua): queue the drain. 404 unless X-Portal-Gate carries the gate's secret."""
    download_gate.queue_drain(request.headers.get(download_gate.ASK_HEADER))
    return Response(status=204)
