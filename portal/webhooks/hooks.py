"""What produces webhook payloads: stored events (portal.tracking.events) and grade changes
(portal.engagement.scoring), in the transaction that caused them. Both handlers are declared,
with their place in the order, in portal/event_handlers.py."""

from __future__ import annotations

from sqlalchemy import select

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.engagement.ledger import GradeChange
from portal.extensions import db
from portal.tracking.events import RecordedEvent
from portal.tracking.models import EventType
from portal.webhooks.models import Webhook
from portal.webhooks.service import emit


def _any_active() -> bool:
    first = db.session.scalar(select(Webhook.id).where(Webhook.active.is_(True)).limit(1))
    return first is not None


def webhook_events(recorded: list[RecordedEvent]) -> None:
    # delivery.opened is a delivery's first open, as its recorder marked it (never recounted)
    first_opens = [r.event for r in recorded if r.first_open]
    comments = [r.event for r in recorded if r.event.type == EventType.COMMENT_CREATED]
    if not (first_opens or comments) or not _any_active():
        return
    for first in first_opens:
        delivery = db.session.get(Delivery, first.delivery_id)
        if delivery is None:
            continue
        emit(
            "delivery.opened",
            {
                "delivery_id": delivery.id,
                "customer_id": delivery.customer_id,
                "template_id": delivery.template_id,
                "template_name": delivery.template.name,
                "event_id": first.id,
                "opened_at": first.occurred_at.isoformat(),
            },
        )
    for event in comments:
        emit(
            "comment.created",
            {
                "customer_id": event.customer_id,
                "delivery_id": event.delivery_id,
                "event_id": event.id,
                "created_at": event.occurred_at.isoformat(),
            },
        )


def webhook_grades(changes: list[GradeChange]) -> None:
    if not _any_active():
        return
    for change in changes:
        customer = db.session.get(Customer, change.customer_id)
        emit(
            "customer.grade_changed",
            {
                "customer_id": change.customer_id,
                "owner_email": customer.owner.email if customer else None,
                "old_grade": change.old,
                "new_grade": change.new,
                "score": change.score,
            },
        )
