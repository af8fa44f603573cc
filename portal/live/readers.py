"""Who is reading now: the customers whose confirmed reading session reported lately.

A reader is live from the confirmed open of a session (`link.opened`) and each read-time report
(`page.viewed`), until the viewer's last report (`final`, sent on `pagehide`) or until no report
for STOPPED_AFTER seconds. The viewer reports every 10 s while its tab is visible
(static/js/viewer.js), so 30 s is three reports missed: a tab hidden or closed without its final
beacon, not a queue drain running a few seconds late (the queued ingest path applies batches
within a second or two, docs/performance.md P2).

Only confirmed sessions of a customer count: a link preview never confirms, a staff member's
look is `internal.viewed` (no session), and a forwarded reader nobody has identified has no
customer. The same rule holds for what is published (portal.live.publish) and for this snapshot,
read from the database (the page's first state, a stream's start and the polling fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import visible_to
from portal.extensions import db
from portal.tracking.models import Event, EventType, ViewSession

STOPPED_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Reader:
    customer_id: int
    delivery_id: int
    page: int | None
    since: datetime  # when the reading session was confirmed
    # How long before the snapshot the session was last heard from. A page that gets the
    # snapshot again (a stream's reconnect every ~25 s, a poll) keeps counting STOPPED_AFTER
    # from then, not from the snapshot: else a tab closed without its final beacon would stay
    # "reading" for as long as the snapshots kept coming within 30 s of each other.
    age_ms: int = 0

    def payload(self) -> dict:
        return {
            "customer_id": self.customer_id,
            "delivery_id": self.delivery_id,
            "page": self.page,
            "since": self.since.isoformat(),
            "age_ms": self.age_ms,
        }


def visible_customer_ids(user: User) -> frozenset[int]:
    """The customers whose reading this user may see: the customers' own visibility rule."""
    return frozenset(db.session.scalars(select(Customer.id).where(visible_to(user))))


def reading_now(user: User, now: datetime) -> list[Reader]:
    """The readers among the customers this user may see, one per customer and delivery (the
    latest session), from the database."""
    cutoff = now - STOPPED_AFTER
    sessions = db.session.execute(
        select(
            ViewSession.id,
            ViewSession.customer_id,
            ViewSession.delivery_id,
            ViewSession.confirmed_at,
            ViewSession.last_seen_at,
        )
        .join(Customer, Customer.id == ViewSession.customer_id)
        .where(
            ViewSession.confirmed_at.is_not(None),
            or_(ViewSession.last_seen_at >= cutoff, ViewSession.confirmed_at >= cutoff),
            visible_to(user),
        )
        .order_by(ViewSession.id)
    ).all()
    if not sessions:
        return []
    last: dict[int, tuple[int | None, bool]] = {}
    for session_id, page, properties in db.session.execute(
        select(Event.session_id, Event.page, Event.properties)
        .where(
            Event.session_id.in_([s.id for s in sessions]),
            Event.type == EventType.PAGE_VIEWED,
        )
        .order_by(Event.id)
    ):
        last[session_id] = (page, bool((properties or {}).get("final")))
    found: dict[tuple[int, int], Reader] = {}
    for session_id, customer_id, delivery_id, confirmed_at, last_seen_at in sessions:
        page, final = last.get(session_id, (1, False))
        key = (customer_id, delivery_id)
        if final:
            found.pop(key, None)
            continue
        heard = max(confirmed_at, last_seen_at or confirmed_at)
        age_ms = max(0, int((now - heard).total_seconds() * 1000))
        found[key] = Reader(customer_id, delivery_id, page, confirmed_at, age_ms)
    return list(found.values())
