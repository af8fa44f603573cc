"""A visit of a customer's portal home (/p/<token>) counts when the page's script confirms it.

As for documents (portal.delivery.open_confirmation): serving /p/<token> proves only that
something fetched the link (a chat app's preview, a mail scanner, a script, or a person). The
GET records `link.fetched` (a preview: shown, never scored); the page's script, once the page is
visible in a visible tab, posts the page's visit token to POST /t/p and only then is
`portal.visited` recorded, which feeds return_visit and frequent_interaction. A signed-in staff
member or an API token is an internal view (`internal.viewed`). One confirmation per page load.

The visit token is signed with its own salt ("portal-visit"), carries the portal link's id and
the `link.fetched` event of the page load, and lives VISIT_MAX_AGE seconds.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.extensions import db
from portal.tracking import events, links
from portal.tracking.ingest_checks import MalformedBatch, SessionGone, SessionNotFound
from portal.tracking.models import EventType, Link

VISIT_SALT = "portal-visit"
VISIT_MAX_AGE = 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=VISIT_SALT)


def record_fetch(
    customer: Customer, via: Link, deliveries: int, staff_id: int | None
) -> str | None:
    """What the GET of /p/<token> records: a preview (`link.fetched`, returning the page's visit
    token for the script) or, for staff, an internal view (no token: nothing to confirm)."""
    properties: dict[str, Any] = {"portal": True, "deliveries": deliveries}
    if staff_id is not None:
        events.record(
            events.NewEvent(
                customer_id=customer.id,
                type=EventType.INTERNAL_VIEWED,
                properties={**properties, "staff_id": staff_id},
            )
        )
        return None
    fetched = events.record(
        events.NewEvent(customer_id=customer.id, type=EventType.LINK_FETCHED, properties=properties)
    )
    assert fetched is not None  # no idempotency key: always stored
    return _serializer().dumps([via.id, fetched.id])


def confirm_visit(token: Any) -> bool:
    """Record `portal.visited` for the page load the token names (once; True when recorded
    now). MalformedBatch (400), SessionNotFound (404) or SessionGone (410) otherwise; the caller
    commits."""
    if not isinstance(token, str) or not token:
        raise MalformedBatch("s (the visit token) must be a non-empty string")
    try:
        link_id, fetched_id = _serializer().loads(token, max_age=VISIT_MAX_AGE)
    except SignatureExpired:
        raise SessionGone("this page is too old; reload it") from None
    except (BadSignature, TypeError, ValueError):
        raise SessionNotFound("unknown visit") from None
    link = db.session.get(Link, link_id)
    if link is None:
        raise SessionNotFound("unknown visit")
    if links.is_gone(link):
        raise SessionGone("this link has expired or was revoked")
    fetched = events.fetched_event(fetched_id)
    if fetched is None or fetched.customer_id != link.customer_id:
        raise SessionNotFound("unknown visit")
    stored = events.record(
        events.NewEvent(
            customer_id=link.customer_id,
            type=EventType.PORTAL_VISITED,
            occurred_at=utcnow(),
            idempotency_key=f"pv:{fetched_id}",
            properties=dict(fetched.properties or {}),
        )
    )
    return stored is not None
