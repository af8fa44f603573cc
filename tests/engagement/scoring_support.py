"""Helpers for the scoring tests (import as `from tests.engagement.scoring_support import …`)."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal import jobs
from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking import sessions
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import Event, ViewSession

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36"}
# 10:00 in Shanghai on a Monday: far from midnight, so a scenario of minutes stays in one day.
START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)

# Every module that reads the time on the event path (they import utcnow by name).
CLOCKED_MODULES = (
    "portal.tracking.events",
    "portal.tracking.sessions",
    "portal.tracking.links",
    "portal.delivery.viewer",
    "portal.delivery.open_confirmation",
    "portal.delivery.comments",
    "portal.delivery.portal_home",
    "portal.delivery.open_confirmation",
)


class Clock:
    """The server's time under test control: clock.now, clock.advance(seconds=10)."""

    def __init__(self, start: datetime = START):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def path_of(url: str, suffix: str = "") -> str:
    """/d/<token> or /p/<token> (+ suffix) from an absolute link."""
    match = re.search(r"/([dp])/([^/?#]+)", url)
    assert match, url
    return f"/{match.group(1)}/{match.group(2)}{suffix}"


def session_of(delivery: Delivery) -> ViewSession:
    session = db.session.scalar(
        select(ViewSession)
        .where(ViewSession.delivery_id == delivery.id)
        .order_by(ViewSession.id.desc())
        .limit(1)
    )
    assert session is not None
    return session


def read(token: str, page: int, ms: int = 10_000) -> dict:
    """One ingest batch with one page.viewed report."""
    return {
        "s": token,
        "reports": [{"k": uuid.uuid4().hex, "type": "page.viewed", "page": page, "ms": ms}],
    }


def ingest_token(delivery: Delivery) -> str:
    return sessions.ingest_token(session_of(delivery))


def events(customer: Customer, type_: str | None = None) -> list[Event]:
    query = select(Event).where(Event.customer_id == customer.id).order_by(Event.id)
    if type_:
        query = query.where(Event.type == type_)
    return list(db.session.scalars(query))


def entries(customer: Customer) -> list[ScoreEntry]:
    return list(
        db.session.scalars(
            select(ScoreEntry).where(ScoreEntry.customer_id == customer.id).order_by(ScoreEntry.id)
        )
    )


def points_by_rule(customer: Customer) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for entry in entries(customer):
        totals[entry.rule_key] += entry.points
    return dict(totals)


def score_of(customer: Customer) -> tuple[int, str]:
    db.session.refresh(customer)
    return customer.score, customer.grade


def record(customer: Customer, type_: str, count: int = 1, **fields) -> list[Event]:
    """count events of one type for customer in one batch (one handler call), committed."""
    stored = record_many(
        NewEvent(customer_id=customer.id, type=type_, **fields) for _ in range(count)
    )
    jobs.commit()
    return stored


def new_session(
    delivery: Delivery, version_number: int = 1, *, confirmed: bool = True
) -> ViewSession:
    """A view session; confirmed=False: only fetched (a preview), as the viewer starts it."""
    session = sessions.start_session(
        delivery, version_number, BROWSER["User-Agent"], "203.0.113.9", confirmed=confirmed
    )
    jobs.commit()
    return session
