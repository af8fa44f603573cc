"""What happens when customers act on a delivery: the owning rep hears about it."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.notifications.services import notify
from portal.tracking.events import on_events
from portal.tracking.models import Event, EventType


def _customer_url(customer_id: int) -> str:
    return f"/customers/{customer_id}"


@on_events
def notify_first_open(events: list[Event]) -> None:
    """The first open of a delivery tells its owner "the customer is viewing it now"."""
    opened = {e.delivery_id: e for e in events if e.type == EventType.LINK_OPENED and e.delivery_id}
    if not opened:
        return
    counts = dict(
        db.session.execute(
            select(Event.delivery_id, func.count())
            .where(Event.type == EventType.LINK_OPENED, Event.delivery_id.in_(opened))
            .group_by(Event.delivery_id)
        ).all()
    )
    first = [delivery_id for delivery_id in opened if counts.get(delivery_id) == 1]
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


@on_events
def notify_comment(events: list[Event]) -> None:
    created = [e for e in events if e.type == EventType.COMMENT_CREATED]
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
