"""What happens when customers act on a delivery: the owning rep hears about it. Event
handlers, declared (with their place in the order) in portal/event_handlers.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.notifications.services import notify
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event, EventType


def _customer_url(customer_id: int) -> str:
    return f"/customers/{customer_id}"


READING_AGAIN_AFTER = timedelta(days=3)


def _reading_key(event: Event) -> str | None:
    """One "is reading" alert per reading session, however many reports it sends."""
    return f"reading:{event.session_id}" if event.session_id else None


def notify_opens(recorded: list[RecordedEvent]) -> None:
    """A delivery's first confirmed open tells its owner "the customer is viewing it now" (which
    open is the first was decided by its recorder, RecordedEvent.first_open: not counted here);
    an open at least READING_AGAIN_AFTER after the one before tells them "reading again"."""
    opened = {
        r.event.delivery_id: r
        for r in recorded
        if r.event.type == EventType.LINK_OPENED and r.event.delivery_id
    }
    if not opened:
        return
    rows = db.session.execute(
        select(Delivery, Customer)
        .join(Customer, Customer.id == Delivery.customer_id)
        .where(Delivery.id.in_(opened))
    ).all()
    for delivery, customer in rows:
        event = opened[delivery.id].event
        params = {"customer": customer.name, "document": delivery.template.name}
        if opened[delivery.id].first_open:
            kind = "delivery.opened"
        else:
            previous = db.session.scalar(
                select(func.max(Event.occurred_at)).where(
                    Event.type == EventType.LINK_OPENED,
                    Event.delivery_id == delivery.id,
                    Event.id != event.id,
                    Event.occurred_at <= event.occurred_at,
                )
            )
            if previous is None or event.occurred_at - previous < READING_AGAIN_AFTER:
                continue
            kind = "delivery.reading_again"
        notify(
            customer.owner,
            kind,
            params,
            url=_customer_url(customer.id),
            customer_id=customer.id,
            coalesce_key=_reading_key(event),
        )


def notify_comment(recorded: list[RecordedEvent]) -> None:
    created = [r.event for r in recorded if r.event.type == EventType.COMMENT_CREATED]
    for event in created:
        customer = db.session.get(Customer, event.customer_id)
        delivery = db.session.get(Delivery, event.delivery_id) if event.delivery_id else None
        if customer is None or delivery is None:
            continue
        comment = db.session.scalar(
            select(Comment)
            .where(Comment.delivery_id == delivery.id, Comment.author_type == "customer")
            .order_by(Comment.id.desc())
            .limit(1)
        )
        excerpt = (comment.text if comment else "")[:80]
        notify(
            customer.owner,
            "comment.created",
            {"customer": customer.name, "document": delivery.template.name, "excerpt": excerpt},
            url=_customer_url(customer.id),
            customer_id=customer.id,
        )
