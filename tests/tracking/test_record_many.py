"""record_many: the one event path stores a batch (large ones with one INSERT on PostgreSQL)
and hands the handlers events whose ids and columns are the stored rows'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal import jobs
from portal.extensions import db
from portal.tracking import events
from portal.tracking.events import BULK_MIN, NewEvent, record_many
from portal.tracking.models import Event, EventType
from tests.delivery.helpers import make_customer

AT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def test_a_large_batch_is_stored_in_order_with_the_ids_handlers_see(make_user, monkeypatch):
    customer = make_customer(make_user("rep"))
    seen: list[list[events.RecordedEvent]] = []
    monkeypatch.setitem(current_app.extensions, events.EXTENSION, (seen.append,))
    batch = [
        NewEvent(
            customer_id=customer.id,
            type=EventType.PAGE_VIEWED if n % 2 else "external.form",
            page=n,
            section="价格" if n % 3 == 0 else None,
            duration_ms=n * 10,
            occurred_at=AT + timedelta(seconds=n),
            idempotency_key=f"k{n}",
            properties={"n": n, "文字": "报价"},
        )
        for n in range(BULK_MIN + 10)
    ]
    batch.append(NewEvent(customer_id=customer.id, type="external.form", idempotency_key="k3"))

    stored = record_many(batch)
    jobs.commit()

    assert len(stored) == BULK_MIN + 10  # the repeated key is dropped
    assert [[r.event for r in batch] for batch in seen] == [stored]
    ids = [e.id for e in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    rows = {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_(ids)))}
    for event in stored:
        row = rows[event.id]
        assert (row.idempotency_key, row.type, row.page, row.section, row.duration_ms) == (
            event.idempotency_key,
            event.type,
            event.page,
            event.section,
            event.duration_ms,
        )
        assert row.occurred_at == event.occurred_at
        assert row.properties == event.properties

    assert record_many(batch) == []  # every key is known now
