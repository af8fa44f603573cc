"""A customer's journey as one list: sends, events and comments, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.customers.models import Customer
from portal.delivery.models import Comment, CommentAuthor, Delivery
from portal.delivery.portal_visits import VISIT_KEY_PREFIX
from portal.extensions import db
from portal.tracking.models import Event, EventType, ViewSession

DEFAULT_LIMIT = 200


def timeline(customer: Customer, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    deliveries = db.session.scalars(
        select(Delivery)
        .where(Delivery.customer_id == customer.id)
        .options(selectinload(Delivery.template), selectinload(Delivery.sender))
        .order_by(Delivery.created_at.desc())
        .limit(limit)
    )
    names: dict[int, str] = {}
    for delivery in deliveries:
        names[delivery.id] = delivery.template.name
        items.append(
            {
                "type": "delivery.sent",
                "at": delivery.created_at,
                "delivery_id": delivery.id,
                "document": delivery.template.name,
                "by": delivery.sender.name,
                "message": delivery.message,
            }
        )
    events = db.session.scalars(
        select(Event)
        .where(Event.customer_id == customer.id, Event.type != EventType.COMMENT_CREATED)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    events = _without_confirmed_fetches(list(events))
    for event in events:
        items.append(
            {
                "type": event.type,
                "at": event.occurred_at,
                "event_id": event.id,
                "delivery_id": event.delivery_id,
                "page": event.page,
                "section": event.section,
                "duration_ms": event.duration_ms,
                "properties": event.properties,
            }
        )
    comments = db.session.scalars(
        select(Comment)
        .where(Comment.customer_id == customer.id)
        .options(selectinload(Comment.staff))
        .order_by(Comment.created_at.desc())
        .limit(limit)
    )
    for comment in comments:
        by_customer = comment.author_type == CommentAuthor.CUSTOMER
        items.append(
            {
                "type": "comment.created" if by_customer else "comment.replied",
                "at": comment.created_at,
                "comment_id": comment.id,
                "delivery_id": comment.delivery_id,
                "version": comment.version_number,
                "text": comment.text,
                "by": customer.name
                if by_customer
                else (comment.staff.name if comment.staff else ""),
            }
        )
    for item in items:
        if item.get("delivery_id") in names:
            item.setdefault("document", names[item["delivery_id"]])
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:limit]


_PORTAL_VISITS = frozenset({EventType.PORTAL_VISITED, EventType.PORTAL_OTHER_DEVICE})


def _without_confirmed_fetches(events: list[Event]) -> list[Event]:
    """Every open starts as a fetch of the page (`link.fetched`); once the viewer confirmed it,
    its `link.opened` tells the story and the fetch is not a preview: leave it out. The same
    for a portal page load, whose visit names its fetch in its key."""
    visits = {
        e.idempotency_key.removeprefix(VISIT_KEY_PREFIX)
        for e in events
        if e.type in _PORTAL_VISITS and (e.idempotency_key or "").startswith(VISIT_KEY_PREFIX)
    }
    if visits:
        events = [
            e for e in events if not (e.type == EventType.LINK_FETCHED and str(e.id) in visits)
        ]
    fetched = {e.session_id for e in events if e.type == EventType.LINK_FETCHED and e.session_id}
    if not fetched:
        return events
    confirmed = set(
        db.session.scalars(
            select(ViewSession.id).where(
                ViewSession.id.in_(fetched), ViewSession.confirmed_at.is_not(None)
            )
        )
    )
    return [
        e for e in events if not (e.type == EventType.LINK_FETCHED and e.session_id in confirmed)
    ]
