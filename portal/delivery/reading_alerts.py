"""Alerts about how a customer reads (not only that they opened): a session past 2 minutes of
reading, and a page tagged `pricing` read. One alert per reading session each (coalesced by
key in portal.notifications.services.notify), however many read-time reports arrive."""

from __future__ import annotations

from sqlalchemy import and_, func, select

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.notifications.services import notify
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event, EventType, ViewSession

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
    (coalesced by its key), however many reports it sends."""
    reads = [
        r.event for r in recorded if r.event.type == EventType.PAGE_VIEWED and r.event.session_id
    ]
    if not reads:
        return
    sessions = {e.session_id for e in reads}
    last = {e.session_id: e for e in reads}
    totals = dict(
        db.session.execute(
            select(Event.session_id, func.coalesce(func.sum(Event.duration_ms), 0))
            .where(Event.session_id.in_(sessions), Event.type == EventType.PAGE_VIEWED)
            .group_by(Event.session_id)
        ).all()
    )
    for session_id, total in totals.items():
        if int(total) > LONG_READ_MS:
            _alert("reading.long", session_id, last[session_id])
    tags = dict(
        db.session.execute(
            select(ViewSession.id, TemplateVersion.content_tags)
            .join(Delivery, Delivery.id == ViewSession.delivery_id)
            .join(
                TemplateVersion,
                and_(
                    TemplateVersion.template_id == Delivery.template_id,
                    TemplateVersion.number == ViewSession.version_number,
                ),
            )
            .where(ViewSession.id.in_(sessions))
        ).all()
    )
    for event in reads:
        page_tags = (tags.get(event.session_id) or {}).get(str(event.page)) or []
        if PRICING_TAG in page_tags:
            _alert("pricing.viewed", event.session_id, event)
