"""A visit of a customer's portal home (/p/<token>) counts when the page's script confirms it.

As for documents (portal.delivery.open_confirmation): serving /p/<token> proves only that
something fetched the link (a chat app's preview, a mail scanner, a script, or a person). The
GET records `link.fetched` (a preview: shown, never scored); the page's script, once the page is
visible in a visible tab, posts the page's visit token to POST /t/p and only then is
`portal.visited` recorded, which feeds return_visit and frequent_interaction. A signed-in staff
member or an API token is an internal view (`internal.viewed`). One confirmation per page load.

Whose visit it is follows the viewer's device rule (portal.delivery.visitors.portal_reader):
the GET gives the browser its device cookie, which POST /t/p reads. The recipient's device
(or a browser with no cookie) records `portal.visited`; an identified forwarded reader's, a
visit of their contact; any other device records `portal.other_device` on the customer's
timeline (the device described), never scored: a forwarded link opened elsewhere must not
earn the customer return_visit or frequent_interaction.

The visit token is signed with its own salt ("portal-visit"), carries the portal link's id and
the `link.fetched` event of the page load, and lives VISIT_MAX_AGE seconds.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery import visitors
from portal.extensions import db
from portal.tracking import events, links
from portal.tracking.devices import describe
from portal.tracking.ingest_checks import MalformedBatch, SessionGone, SessionNotFound
from portal.tracking.models import Event, EventType, Link

VISIT_SALT = "portal-visit"
VISIT_MAX_AGE = 24 * 3600
DEVICE_MARK = "device_mark"  # a counted visit's device (visitors.device_mark)
VISIT_KEY_PREFIX = "pv:"  # + the page load's link.fetched id: one visit per page load


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


def _first_device(customer_id: int) -> str | None:
    """The device mark of the customer's first counted portal visit that has one (visits
    stored before marks were kept have none)."""
    mark = Event.properties[DEVICE_MARK].as_string()
    return db.session.scalar(
        select(mark)
        .where(
            Event.customer_id == customer_id,
            Event.type == EventType.PORTAL_VISITED,
            mark.is_not(None),
        )
        .order_by(Event.id)
        .limit(1)
    )


def confirm_visit(token: Any, device: str | None = None, user_agent: str = "") -> bool:
    """Record the visit of the page load the token names, from this device (its cookie): once
    per page load; True when recorded now. MalformedBatch (400), SessionNotFound (404) or
    SessionGone (410) otherwise; the caller commits."""
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
    properties = dict(fetched.properties or {})
    reader = visitors.portal_reader(
        link.customer_id, device, lambda: _first_device(link.customer_id)
    )
    if not reader.counts:
        kind, customer_id = EventType.PORTAL_OTHER_DEVICE, link.customer_id
        properties["device"] = describe(user_agent).as_json()
    else:
        kind, customer_id = EventType.PORTAL_VISITED, reader.customer_id
        if reader.customer_id != link.customer_id:
            properties["portal_of"] = link.customer_id  # an identified reader, as a contact
        elif device:
            properties[DEVICE_MARK] = visitors.device_mark(device)
    stored = events.record(
        events.NewEvent(
            customer_id=customer_id,
            type=kind,
            occurred_at=utcnow(),
            idempotency_key=f"{VISIT_KEY_PREFIX}{fetched_id}",
            properties=properties,
            visitor_id=reader.visitor_id,
        )
    )
    return stored is not None
