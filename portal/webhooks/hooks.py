"""What produces webhook payloads: stored events (portal.tracking.events.on_events) and grade
changes (portal.engagement.scoring.on_grade_change), in the transaction that caused them."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.engagement.ledger import GradeChange
from portal.engagement.scoring import on_grade_change
from portal.extensions import db
from portal.tracking.events import on_events
from portal.tracking.models import Event, EventType
from portal.webhooks.models import Webhook
from portal.webhooks.service import emit


def _any_active() -> bool:
    first = db.session.scalar(select(Webhook.id).where(Webhook.active.is_(True)).limit(1))
    return first is not None


@on_events
def webhook_events(events: list[Event]) -> None:
    opened = {e.delivery_id: e for e in events if e.type == EventType.LINK_OPENED and e.delivery_id}
    comments = [e for e in events if e.type == EventType.COMMENT_CREATED]
    if not (opened or comments) or not _any_active():
        return
    if opened:
        # a delivery's first open is its lowest link.opened id; emit when that is in this batch
        first_ids = dict(
            db.session.execute(
                select(Event.delivery_id, func.min(Event.id))
                .where(Event.type == EventType.LINK_OPENED, Event.delivery_id.in_(opened))
                .group_by(Event.delivery_id)
            ).all()
        )
        batch_ids = {e.id: e for e in events}
        for delivery_id in opened:
            first = batch_ids.get(first_ids.get(delivery_id))
            delivery = db.session.get(Delivery, delivery_id) if first else None
            if first is None or delivery is None:
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


@on_grade_change
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
