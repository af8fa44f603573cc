"""Alerts about how a customer reads (not only that they opened): a session past 2 minutes of
reading, and a page tagged `pricing` read. One alert per reading session each (coalesced by
key in portal.notifications.services.notify), however many read-time reports arrive."""

from __future__ import annotations

from collections import Counter

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.engagement.facts import session_facts
from portal.extensions import db
from portal.notifications.services import notify
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event, EventType

LONG_READ_MS = 120_000  # "read > 2 min", as the long_read rule and the callback task
PRICING_TAG = "pricing"


def _alert(kind: str, session_id: int, event: Event) -> None:
    delivery = db.session.get(Delivery, event.delivery_id) if event.delivery_id else None
    customer = db.session.get(Customer, event.customer_id)
    if delivery is None or customer is None or customer.owner is None:
        return
    notify(
        customer.owner,
        kind,
        {"customer": customer.name, "document": delivery.template.name},
        url=f"/customers/{customer.id}",
        customer_id=customer.id,
        coalesce_key=f"{kind}:{session_id}",
    )


def alert_reading(recorded: list[RecordedEvent]) -> None:
    """Read > 2 min in one session, a page tagged pricing read: one alert per reading session
    (coalesced by its key), however many reports it sends. The session facts are scoring's
    (portal.engagement.facts): the same tags and read time the long_read and pricing_viewed
    rules see."""
    reads = [
        r.event for r in recorded if r.event.type == EventType.PAGE_VIEWED and r.event.session_id
    ]
    if not reads:
        return
    sessions = session_facts(reads, min(e.id for e in reads))
    batch_ms: Counter[int] = Counter()
    last: dict[int, Event] = {}
    for event in reads:
        batch_ms[event.session_id] += event.duration_ms or 0
        last[event.session_id] = event
    for session_id, facts in sessions.items():
        if facts.read_ms + batch_ms[session_id] > LONG_READ_MS:
            _alert("reading.long", session_id, last[session_id])
    for event in reads:
        facts = sessions.get(event.session_id)
        if facts is not None and PRICING_TAG in facts.tags_of(event.page, event.section):
            _alert("pricing.viewed", event.session_id, event)
