"""An open is confirmed by the viewer in a browser, never by the GET of /d/<token>.

Serving the viewer starts an unconfirmed view session (`link.fetched`: link previews of chat
apps and mail scanners fetch links too, often with a browser's User-Agent). The viewer script
posts {"s": <ingest token>} to POST /t/o once a page of the document
is visible in a visible tab; confirm_open() then records `link.opened` (its points, the first-open
notification and webhooks run on it through the one event path), once per session. The device
is the browser's first-party device cookie (portal.delivery.visitors.DEVICE_COOKIE; a body's
"d" is taken only when no cookie came): it tells the recipient from a forwarded reader. A session
that never confirms stays a preview: shown to the rep, never scored, never notified, and it
cannot report read time (portal.tracking.ingest refuses its batches).

The ingest token is the credential, as for the read-time reports: signed, purpose-bound (salt
"ingest"), good for one session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal.db_types import utcnow
from portal.delivery import visitors
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking import events, links, sessions
from portal.tracking.ingest_checks import (
    KEY_PATTERN,
    InvalidReport,
    MalformedBatch,
    SessionGone,
    SessionNotFound,
    check_live,
    claims,
)
from portal.tracking.models import EventType, Link, LinkPurpose, ViewSession


@dataclass(frozen=True)
class Confirmation:
    session_id: int
    delivery_id: int
    opened: bool  # False: the session was confirmed before (a repeat is acknowledged)

    def as_json(self) -> dict[str, Any]:
        return {"opened": self.opened}


def parse(payload: Any) -> tuple[str, str | None]:
    """(ingest token, device id or None) of a confirmation body; MalformedBatch (400) or
    InvalidReport (422) otherwise. The device id is the viewer's per-browser id, kept with the
    open so a later device registry can attach it."""
    if not isinstance(payload, dict):
        raise MalformedBatch('the body must be a JSON object {"s": ..., "d": ...}')
    token = payload.get("s")
    if not isinstance(token, str) or not token:
        raise MalformedBatch("s (the session token) must be a non-empty string")
    device = payload.get("d")
    if device is not None and (not isinstance(device, str) or not KEY_PATTERN.fullmatch(device)):
        raise InvalidReport("d must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -", field="d")
    return token, device


def device_of(cookie: str | None) -> str | None:
    """The device id a device cookie carries, or None when it is missing or not one."""
    return cookie if isinstance(cookie, str) and KEY_PATTERN.fullmatch(cookie) else None


def delivery_of_token(token: Any) -> int | None:
    """The delivery a confirmation's token names (for rate limits), without the database."""
    if not isinstance(token, str):
        return None
    try:
        found = claims(token)
    except SessionGone:
        return None
    return found.delivery_id if found is not None else None


def confirm_open(
    token: str, device: str | None = None, *, user_agent: str = "", ip: str | None = None
) -> Confirmation:
    """Record the open of the token's session (once); the caller commits.

    In consent mode (PORTAL_TRACKING_MODE=consent) the viewer confirms only after the reader
    agreed, and the session was stored without their device and address: they are added here.

    SessionNotFound (404) for an unknown or tampered token, SessionGone (410) when the token is
    too old or the delivery or its link is revoked or expired."""
    now = utcnow()
    found = check_live(claims(token), now)
    session = db.session.get(ViewSession, found.session_id)
    if session is None:
        raise SessionNotFound("unknown tracking session")
    delivery = db.session.get(Delivery, session.delivery_id)
    if delivery is None or _gone(delivery, now):
        raise SessionGone("this document link has expired or was revoked")
    # Compare-and-set: of two confirmations racing (a retry, two tabs' duplicate), one opens.
    won = db.session.execute(
        update(ViewSession)
        .where(ViewSession.id == session.id, ViewSession.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return Confirmation(session.id, delivery.id, opened=False)
    if not session.user_agent and not session.ip_hash and (user_agent or ip):
        session.user_agent = user_agent[:400]
        session.ip_hash = sessions.ip_hash(ip)
    # The delivery's row is locked before anything the open changes below it (its reading
    # rollup, when the event is recorded): the ingest drain takes the two in that order too
    # (the delivery's read clock, then the rollup), and in the other order the two deadlock.
    db.session.execute(select(Delivery.id).where(Delivery.id == delivery.id).with_for_update())
    # The device decides whose open this is: the recipient's, or a forwarded reader's.
    visitors.attach(session, delivery, device, now)
    recipient = session.customer_id == delivery.customer_id  # not a forwarded reader
    properties: dict[str, Any] = {"version": session.version_number}
    if found.page_count:
        properties["pages"] = found.page_count
    if device:
        properties["device"] = device
    events.record(
        events.NewEvent(
            customer_id=session.customer_id,
            visitor_id=session.visitor_id,
            type=EventType.LINK_OPENED,
            delivery_id=delivery.id,
            session_id=session.id,
            occurred_at=now,
            idempotency_key=f"s{session.id}:{EventType.LINK_OPENED.value}",
            properties=properties,
            first_open=recipient and _claim_first_open(delivery, now),
        )
    )
    if recipient:  # the recipient's own reading
        delivery.last_opened_at = now
        delivery.seen_version_number = session.version_number
    return Confirmation(session.id, delivery.id, opened=True)


def _claim_first_open(delivery: Delivery, now: datetime) -> bool:
    """Whether this open is the delivery's first, decided here once for every handler (the
    notification, the webhook: RecordedEvent.first_open). Compare-and-set on first_opened_at:
    of two sessions of one delivery confirming at once, exactly one is first (on PostgreSQL the
    other waits for the row, then matches nothing)."""
    won = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.first_opened_at.is_(None))
        .values(first_opened_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won == 1:
        set_committed_value(delivery, "first_opened_at", now)  # what the row now holds
    return won == 1


def _gone(delivery: Delivery, now: datetime) -> bool:
    """The delivery is revoked or expired, or every one of its document links is."""
    if links.ended(delivery.revoked_at, delivery.expires_at, now):
        return True
    doc_links = db.session.scalars(
        select(Link).where(Link.delivery_id == delivery.id, Link.purpose == LinkPurpose.DOC.value)
    ).all()
    return bool(doc_links) and all(links.is_gone(link, now) for link in doc_links)
