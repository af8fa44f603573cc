"""A delivery's first open is worked out once, where the open is recorded (issue 15, item 4):
portal.delivery.open_confirmation marks the link.opened event (RecordedEvent.first_open) and
the first-open notification and webhook act on that mark; neither counts the opens again."""

from __future__ import annotations

import customer_side_support as support
import pytest
from customer_side_support import path_of
from flask import current_app
from sqlalchemy import func, select

from portal import jobs
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tracking import events
from portal.tracking.events import NewEvent
from portal.tracking.models import EventType
from portal.webhooks import hooks
from tests.viewer_support import confirm, open_in_viewer

client = support.client
shop = support.shop


@pytest.fixture
def seen(monkeypatch) -> list[events.RecordedEvent]:
    """Every recorded event, as the handlers get it (a spy after the declared handlers)."""
    recorded: list[events.RecordedEvent] = []
    installed = (*events.installed(), recorded.extend)
    monkeypatch.setitem(current_app.extensions, events.EXTENSION, installed)
    return recorded


@pytest.fixture
def emitted(monkeypatch) -> list[tuple[str, dict]]:
    """The webhook payloads queued (as if a webhook were registered)."""
    queued: list[tuple[str, dict]] = []
    monkeypatch.setattr(hooks, "_any_active", lambda: True)
    monkeypatch.setattr(hooks, "emit", lambda kind, data: queued.append((kind, data)))
    return queued


def _notifications(kind: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.kind == kind)
    )


def test_only_the_first_confirmation_of_a_delivery_is_its_first_open(client, shop, seen, emitted):
    sent = shop.send(shop.template())
    first = open_in_viewer(client, path_of(sent.url))
    open_in_viewer(client, path_of(sent.url))  # another session (another tab, another day)
    assert confirm(client, first.get_data(as_text=True)).json == {"opened": False}  # a repeat

    opens = [r for r in seen if r.event.type == EventType.LINK_OPENED]
    assert [r.first_open for r in opens] == [True, False]
    assert [r.first_open for r in seen if r.event.type != EventType.LINK_OPENED] == [False] * (
        len(seen) - 2
    )
    assert _notifications("delivery.opened") == 1
    assert [(kind, data["event_id"]) for kind, data in emitted if kind == "delivery.opened"] == [
        ("delivery.opened", opens[0].event.id)
    ]
    delivery = db.session.get(Delivery, sent.delivery.id)
    assert delivery.first_opened_at == opens[0].event.occurred_at
    assert delivery.last_opened_at == opens[1].event.occurred_at


def test_the_notification_and_the_webhook_follow_the_mark_and_never_recount(shop, seen, emitted):
    """Recorded by hand: a delivery's first link.opened marked not-first, its second marked
    first. Handlers that counted the opens themselves would tell of the first one."""
    sent = shop.send(shop.template())

    def record_open(first_open: bool):
        event = events.record(
            NewEvent(
                customer_id=shop.customer.id,
                type=EventType.LINK_OPENED,
                delivery_id=sent.delivery.id,
                first_open=first_open,
            )
        )
        jobs.commit()
        return event

    record_open(False)
    assert (_notifications("delivery.opened"), emitted) == (0, [])

    marked = record_open(True)
    assert _notifications("delivery.opened") == 1
    assert [(kind, data["event_id"]) for kind, data in emitted] == [("delivery.opened", marked.id)]
    assert [r.first_open for r in seen] == [False, True]


def test_only_a_link_opened_can_be_a_first_open(shop):
    with pytest.raises(ValueError, match="first_open"):
        events.record(
            NewEvent(customer_id=shop.customer.id, type=EventType.PAGE_VIEWED, first_open=True)
        )
