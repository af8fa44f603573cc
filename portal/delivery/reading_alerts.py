"""Alerts about how a customer reads (not only that they opened): a session past 2 minutes of
reading, and a page tagged `pricing` read. One alert per reading session each (coalesced by
key in portal.notifications.services.notify_many), however many read-time reports arrive."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.engagement.facts import session_facts
from portal.extensions import db
from portal.library.models import Template
from portal.notifications.services import Alert, notify_many
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event, EventType

LONG_READ_MS = 120_000  # "read > 2 min", as the long_read rule and the callback task
PRICING_TAG = "pricing"


def _alerts(wanted: dict[tuple[str, int], Event]) -> list[Alert]:
    """The alerts for (kind, session) -> the event that raised it, their rows read in two
    queries (the drain raises hundreds a round: one lookup each was most of its time)."""
    delivery_ids = {e.delivery_id for e in wanted.values() if e.delivery_id}
    if not delivery_ids:
        return []
    customer_ids = {e.customer_id for e in wanted.values()}
    documents = dict(
        db.session.execute(
            select(Delivery.id, Template.name)
            .join(Template, Template.id == Delivery.template_id)
            .where(Delivery.id.in_(delivery_ids))
        ).all()
    )
    customers = {
        c.id: c
        for c in db.session.scalars(
            select(Customer)
            .where(Customer.id.in_(customer_ids))
            .options(joinedload(Customer.owner))
        )
    }
    alerts = []
    for (kind, session_id), event in wanted.items():
        document = documents.get(event.delivery_id)
        customer = customers.get(event.customer_id)
        if document is None or customer is None or customer.owner is None:
            continue
        alerts.append(
            Alert(
                customer.owner,
                kind,
                {"customer": customer.name, "document": document},
                url=f"/customers/{customer.id}",
                customer_id=customer.id,
                coalesce_key=f"{kind}:{session_id}",
            )
        )
    return alerts


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
    # Before the round's first event (its other events are no reads): the same facts, and so
    # the same query, as scoring's (shared through the round's memo)
    sessions = session_facts(reads, min(r.event.id for r in recorded))
    batch_ms: Counter[int] = Counter()
    last: dict[int, Event] = {}
    for event in reads:
        batch_ms[event.session_id] += event.duration_ms or 0
        last[event.session_id] = event
    # (kind, session) -> the first event that raised it: the later ones are coalesced anyway
    wanted: dict[tuple[str, int], Event] = {}
    for session_id, facts in sessions.items():
        if facts.read_ms + batch_ms[session_id] > LONG_READ_MS:
            wanted[("reading.long", session_id)] = last[session_id]
    for event in reads:
        facts = sessions.get(event.session_id)
        if facts is not None and PRICING_TAG in facts.tags_of(event.page, event.section):
            wanted.setdefault(("pricing.viewed", event.session_id), event)
    if wanted:
        notify_many(_alerts(wanted))
