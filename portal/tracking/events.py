"""The one path every tracked action takes: store the Event rows, then hand them, in the same
transaction, to the handlers that react (open bookkeeping, notifications, and later scores and
tasks). Handlers that reach outside the database defer a job (portal.jobs), which runs only
after the commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.db_types import utcnow
from portal.extensions import db
from portal.tracking.models import Event

Handler = Callable[[list[Event]], None]
_handlers: list[Handler] = []


def on_events(handler: Handler) -> Handler:
    """Register handler(events) to run on every batch of newly stored events."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


@dataclass
class NewEvent:
    customer_id: int
    type: str
    delivery_id: int | None = None
    session_id: int | None = None
    page: int | None = None
    section: str | None = None
    duration_ms: int | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def record(new: NewEvent) -> Event | None:
    """Store one event; None when its idempotency key was seen before."""
    stored = record_many([new])
    return stored[0] if stored else None


def record_many(batch: Iterable[NewEvent]) -> list[Event]:
    """Store a batch in one flush, dropping duplicates by idempotency key."""
    items = list(batch)
    keys = [n.idempotency_key for n in items if n.idempotency_key]
    seen: set[str] = set()
    if keys:
        seen = set(
            db.session.scalars(select(Event.idempotency_key).where(Event.idempotency_key.in_(keys)))
        )
    now = utcnow()
    events: list[Event] = []
    for new in items:
        if new.idempotency_key:
            if new.idempotency_key in seen:
                continue
            seen.add(new.idempotency_key)
        events.append(
            Event(
                customer_id=new.customer_id,
                type=new.type,
                delivery_id=new.delivery_id,
                session_id=new.session_id,
                page=new.page,
                section=new.section,
                duration_ms=new.duration_ms,
                occurred_at=new.occurred_at or now,
                received_at=now,
                idempotency_key=new.idempotency_key,
                properties=new.properties,
            )
        )
    if not events:
        return []
    db.session.add_all(events)
    db.session.flush()
    for handler in _handlers:
        handler(events)
    return events
