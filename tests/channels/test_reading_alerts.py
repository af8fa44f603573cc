"""Alerts from the real event path (viewer confirmation, read-time reports): first open, a page
tagged pricing, more than 2 minutes of reading, each once per reading session however many
reports the viewer sends; and reading again after 3 days or more."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.channels.services import create_channel
from portal.extensions import db
from portal.jobs import commit
from portal.notifications.models import Notification
from portal.notifications.preferences import set_preferences
from portal.statement_count import counted_statements
from portal.tasks.models import Task
from portal.tracking.events import NewEvent, record
from portal.tracking.ingest import ingest_batch
from portal.tracking.models import EventType
from tests.channels.conftest import URLS
from tests.delivery.helpers import make_delivery
from tests.engagement.scoring_support import (
    BROWSER,
    CLOCKED_MODULES,
    START,
    Clock,
    ingest_token,
    new_session,
    path_of,
    read,
)
from tests.viewer_support import open_in_viewer


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    for module in CLOCKED_MODULES:
        monkeypatch.setattr(f"{module}.utcnow", fake)
    monkeypatch.setattr("portal.tracking.ingest.clock", fake)
    return fake


READING = ("delivery.opened", "delivery.reading_again", "pricing.viewed", "reading.long")


def _kinds() -> list[str]:
    """The reading alerts raised so far (the task rules raise task notes too)."""
    return list(
        db.session.scalars(
            select(Notification.kind)
            .where(Notification.kind.in_(READING))
            .order_by(Notification.id)
        )
    )


def test_reading_alerts_come_once_per_session(world, app, clock, robots):
    rep = world.rep
    create_channel(rep, kind="wecom", url=URLS["wecom"], user_email=rep.email)
    set_preferences(rep, {"quiet_hours": {"enabled": False}})  # whatever the hour of the run
    commit()
    sent = make_delivery(rep, world.customer, world.template)  # page 2 is tagged pricing
    browser = app.test_client()  # the customer's one browser (device cookie) throughout

    open_in_viewer(browser, path_of(sent.url), headers=BROWSER)
    token = ingest_token(sent.delivery)
    for _ in range(13):  # 130 s on the pricing page, one report each 10 s
        clock.advance(seconds=10)
        ingest_batch(token, read(token, page=2), now=clock.now)

    assert _kinds() == ["delivery.opened", "pricing.viewed", "reading.long"]
    titles = [r.body["markdown"]["content"].splitlines()[0] for r in robots["wecom"].accepted]
    customer, document = world.customer.name, world.template.name
    assert titles == [
        f"**{customer} 正在查看“{document}”**",
        f"**{customer} 查看了“{document}”的报价**",
        f"**{customer} 已阅读“{document}”超过 2 分钟**",
    ]


def _open(delivery, session, at, *, first: bool = False) -> None:
    """The open the viewer confirms, recorded on the one event path at `at` (`first`: what
    portal.delivery.open_confirmation decides for a delivery's first open)."""
    record(
        NewEvent(
            customer_id=delivery.customer_id,
            type=EventType.LINK_OPENED,
            delivery_id=delivery.id,
            session_id=session.id,
            occurred_at=at,
            idempotency_key=f"s{session.id}:link.opened",
            first_open=first,
        )
    )
    commit()


def test_reading_again_after_three_days_is_one_alert(world, robots):
    rep = world.rep
    create_channel(rep, kind="wecom", url=URLS["wecom"], user_email=rep.email)
    set_preferences(rep, {"quiet_hours": {"enabled": False}})
    commit()
    sent = make_delivery(rep, world.customer, world.template)
    first = START
    _open(sent.delivery, new_session(sent.delivery), first, first=True)
    _open(sent.delivery, new_session(sent.delivery), first + timedelta(days=2))  # not "again"
    assert _kinds() == ["delivery.opened"]
    _open(sent.delivery, new_session(sent.delivery), first + timedelta(days=5))
    assert _kinds() == ["delivery.opened", "delivery.reading_again"]
    titles = [r.body["markdown"]["content"].splitlines()[0] for r in robots["wecom"].accepted]
    assert titles[-1] == f"**{world.customer.name} 再次阅读“{world.template.name}”**"


def _pricing_round(world, clock, sessions: int, ms: int = 10_000) -> list[str]:
    """One drain round (apply_batches, as portal.tracking.ingest_queue applies it) of one
    pricing-page report in each of `sessions` new reading sessions: its statements."""
    from portal.tracking.ingest import Batch, apply_batches
    from portal.tracking.ingest_checks import Report

    ids = []
    for _ in range(sessions):
        sent = make_delivery(world.rep, world.customer, world.template)
        ids.append(new_session(sent.delivery).id)
    clock.advance(milliseconds=ms)  # the sessions were open that long: the budget allows it
    batches = [
        Batch(i, [Report(0, uuid.uuid4().hex, "page.viewed", 2, None, ms, None, False)], clock.now)
        for i in ids
    ]
    commit()
    with counted_statements() as statements:
        apply_batches(batches)
    commit()
    return statements


def test_a_drain_round_raises_its_alerts_in_statements_that_do_not_grow(world, clock, robots):
    """The drain applies hundreds of reports a round: each new reading session's pricing alert
    once looked its rows up one by one (most of the drain's time, P11). A round of 12 such
    sessions sends no more statements than a round of 2, and each session gets its alert."""
    rep = world.rep
    create_channel(rep, kind="wecom", url=URLS["wecom"], user_email=rep.email)
    set_preferences(rep, {"quiet_hours": {"enabled": False}})
    commit()
    few = _pricing_round(world, clock, 2)
    many = _pricing_round(world, clock, 12)
    assert _kinds().count("pricing.viewed") == 14
    assert len(robots["wecom"].accepted) == 14
    selects = [s for s in many if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == len([s for s in few if s.lstrip().upper().startswith("SELECT")])
    # What grows is only the rows written (SQLite writes them one statement each)
    beyond = _beyond(many, few)
    assert all(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in beyond)


def _beyond(many: list[str], few: list[str]) -> list[str]:
    """The statements of `many` not in `few` (as a multiset; IN lists of any length alike)."""
    left = [_shape(s) for s in few]
    extra = []
    for statement in many:
        if _shape(statement) in left:
            left.remove(_shape(statement))
        else:
            extra.append(statement)
    return extra


_PLACEHOLDERS = re.compile(r"\((?:\s*(?:\?|%\(\w+\)s(?:::\w+)?|%s)\s*,?)+\)")


def _shape(statement: str) -> str:
    return _PLACEHOLDERS.sub("(...)", statement)


def test_a_round_reads_its_sessions_read_time_once(world, clock, robots):
    """Scoring, the reading alerts and the call-back task each need what the round's sessions
    had read before it: one query for the three (portal.tracking.events.round_memo), where
    the drain sent three. The alerts still come: 130 s read crosses both lines."""
    statements = _pricing_round(world, clock, 3, ms=130_000)
    sums = [s for s in statements if "sum(events.duration_ms)" in s]
    assert len(sums) == 1
    assert _kinds().count("pricing.viewed") == 3
    assert _kinds().count("reading.long") == 3
    assert db.session.scalar(select(func.count(Task.id))) == 1  # the customer's call-back task
