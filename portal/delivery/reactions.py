"""What happens when customers act on a delivery: the owning rep hears about it. Event
handlers, declared (with their place in the order) in portal/event_handlers.py."""

from __future__ import annotations

from sqlalchemy import select

from portal.customers.models import Customer
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.notifications.services import notify
from portal.tracking.events import RecordedEvent
from portal.tracking.models import EventType


def _customer_url(customer_id: int) -> str:
    return f"/customers/{customer_id}"


def notify_first_open(recorded: list[RecordedEvent]) -> None:
    """The first open of a delivery tells its owner "the customer is viewing it now". Which
    open is the first was decided by its recorder (RecordedEvent.first_open): not counted here."""
    first = [r.event.delivery_id for r in recorded if r.first_open]
    if not first:
        return
    rows = db.session.execute(
        select(Delivery, Customer)
        .join(Customer, Customer.id == Delivery.customer_id)
        .where(Delivery.id.in_(first))
    ).all()
    for delivery, customer in rows:
        notify(
            customer.owner,
            "delivery.opened",
            {"customer": customer.name, "document": delivery.template.name},
            url=_customer_url(customer.id),
            customer_id=customer.id,
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
