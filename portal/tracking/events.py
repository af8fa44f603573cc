"""The one path every tracked action takes: store the Event rows, then hand them, in the same
transaction, to the handlers that react (notifications, scores, task rules, webhooks), as
RecordedEvents: the row and what its recorder knew about it (first_open). Handlers that reach
outside the database defer a job (portal.jobs), which runs only after the commit.

Which handlers run, and in what order, is declared in one place, portal/event_handlers.py, and
installed on the app by create_app (install); importing a handler's module registers nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, text

from portal.db_types import utcnow
from portal.extensions import db
from portal.tracking.models import Event, EventType


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event as the handlers get it: the row, and what its recorder knew that the row
    does not say.

    first_open: this `link.opened` is its delivery's first open. Worked out once, by the one
    recorder of opens (portal.delivery.open_confirmation, a compare-and-set on the delivery's
    first_opened_at, so of two sessions confirming at once exactly one is first); the first-open
    notification and webhook act on it and never count the opens again."""

    event: Event
    first_open: bool = False


EventHandler = Callable[[list[RecordedEvent]], None]
# Where create_app keeps the app's handlers, in order (app.extensions[EXTENSION]), and which
# of them see every event, a forwarded reader's too (app.extensions[EVERY_EVENT]).
EXTENSION = "portal.event_handlers"
EVERY_EVENT = "portal.event_handlers.every_event"
_ROUND: ContextVar[dict[Any, Any] | None] = ContextVar("portal_event_round", default=None)


def round_memo() -> dict[Any, Any] | None:
    """A dict the handlers of one record_many call share (None outside them): what one handler
    reads that another would read again for the same events. Scoring, the reading alerts and
    the call-back task each need the sessions' read time before the batch (engagement.facts.
    session_facts); the drain paid for that query three times a round.

    What a handler keeps here must not change while the round's handlers run. The sessions' read
    time before the round does not: ingest locks a session's row (FOR UPDATE) before it records
    its reports, so no other transaction adds reads to these sessions meanwhile, and any it
    adds later get higher ids than this round's."""
    return _ROUND.get()


def install(
    app: Flask, handlers: Iterable[EventHandler], every_event: Iterable[EventHandler] = ()
) -> None:
    """Make handlers, in this order, the ones record_many runs in this app (create_app, with the
    list declared in portal/event_handlers.py). Those also in every_event are handed the events
    with no customer as well (the reading rollups: a forwarded reader's confirmation changes
    what the recipient's send counts); the others only a customer's."""
    app.extensions[EXTENSION] = tuple(handlers)
    app.extensions[EVERY_EVENT] = frozenset(every_event)


def installed() -> tuple[EventHandler, ...]:
    """The current app's handlers, in the order they run."""
    return current_app.extensions[EXTENSION]


@dataclass
class NewEvent:
    customer_id: int | None  # None: a forwarded reader not identified (no handler sees it)
    type: str
    delivery_id: int | None = None
    session_id: int | None = None
    page: int | None = None
    section: str | None = None
    duration_ms: int | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    # Set by the recorder of a link.opened that is its delivery's first open (RecordedEvent).
    first_open: bool = False
    visitor_id: int | None = None  # the device it came from (portal.delivery.visitors)


def fetched_event(event_id: Any) -> Event | None:
    """A stored `link.fetched` event by id (a portal page load being confirmed), else None."""
    if not isinstance(event_id, int) or isinstance(event_id, bool):
        return None
    event = db.session.get(Event, event_id)
    return event if event is not None and event.type == "link.fetched" else None


def record(new: NewEvent) -> Event | None:
    """Store one event; None when its idempotency key was seen before."""
    stored = record_many([new])
    return stored[0] if stored else None


def record_many(batch: Iterable[NewEvent]) -> list[Event]:
    """Store a batch in one statement, dropping duplicates by idempotency key, then run the
    installed handlers on the stored events (in the order given, which is their id order)."""
    items = list(batch)
    keys = [n.idempotency_key for n in items if n.idempotency_key]
    seen = _stored_keys(keys) if keys else set()
    now = utcnow()
    events: list[Event] = []
    first_opens: list[bool] = []
    for new in items:
        if new.first_open and new.type != EventType.LINK_OPENED:
            raise ValueError(f"first_open is a link.opened's, not a {new.type}'s")
        if new.idempotency_key:
            if new.idempotency_key in seen:
                continue
            seen.add(new.idempotency_key)
        first_opens.append(new.first_open)
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
                visitor_id=new.visitor_id,
            )
        )
    if not events:
        return []
    if len(events) >= BULK_MIN and _postgres():
        _insert_bulk(events)
    else:
        db.session.add_all(events)
        db.session.flush()
    # Handlers (scores, tasks, notifications, webhooks) react to a customer's actions: the
    # reading of a forwarded reader nobody has identified is stored and shown, never reacted to.
    every = [
        RecordedEvent(event, first_open)
        for event, first_open in zip(events, first_opens, strict=True)
    ]
    recorded = [r for r in every if r.event.customer_id is not None]
    every_event = current_app.extensions.get(EVERY_EVENT, frozenset())
    memo = _ROUND.set({})  # a handler that records events itself opens a round of its own
    try:
        for handler in installed():
            if handler in every_event:
                handler(every)
            elif recorded:
                handler(recorded)
    finally:
        _ROUND.reset(memo)
    return events


# A batch this large (the ingest applier's) is written with one INSERT … SELECT FROM unnest():
# a handful of array parameters instead of thousands of scalars, and no unit of work.
BULK_MIN = 50
_COLUMNS = (
    ("customer_id", "integer"),
    ("delivery_id", "integer"),
    ("session_id", "integer"),
    ("type", "text"),
    ("page", "integer"),
    ("section", "text"),
    ("duration_ms", "bigint"),
    ("occurred_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("idempotency_key", "text"),
    ("visitor_id", "integer"),
)


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _stored_keys(keys: list[str]) -> set[str]:
    if _postgres():  # one array parameter, whatever the number of keys
        rows = db.session.execute(
            text("SELECT idempotency_key FROM events WHERE idempotency_key = ANY(:keys)"),
            {"keys": keys},
        )
        return {row[0] for row in rows}
    return set(
        db.session.scalars(select(Event.idempotency_key).where(Event.idempotency_key.in_(keys)))
    )


def _insert_bulk(events: list[Event]) -> None:
    """PostgreSQL: one INSERT of every row. Rows go in in the batch's order (ORDER BY the
    ordinality), so the sequence hands out ascending ids in that order: the returned ids,
    sorted, are the events' ids in turn. The Event objects stay out of the session: handlers
    read their columns, which hold exactly what was written."""
    columns = ", ".join(name for name, _ in _COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS)
    params = {name: [getattr(e, name) for e in events] for name, _ in _COLUMNS}
    params["properties"] = [json.dumps(e.properties or {}, ensure_ascii=False) for e in events]
    rows = db.session.execute(
        text(
            f"INSERT INTO events ({columns}, properties) "  # noqa: S608 (constant names)
            f"SELECT {columns}, CAST(properties AS jsonb) "
            f"FROM unnest({arrays}, CAST(:properties AS text[])) "
            f"WITH ORDINALITY AS t({columns}, properties, n) ORDER BY t.n "
            "RETURNING id"
        ),
        params,
    )
    for event, event_id in zip(events, sorted(row[0] for row in rows), strict=True):
        event.id = event_id
