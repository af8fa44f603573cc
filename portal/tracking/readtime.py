"""Read-time statistics of deliveries, for the rep's pages and the API.

Batched: the statistics of any number of deliveries cost three aggregate queries, so a page
listing N deliveries does not run N queries. Read time is what ingest credited (never the
client's claims): the sessions' `credited_ms`, and per page the `page.viewed` durations.

Opens are the sessions the viewer confirmed (portal.delivery.open_confirmation); sessions that
never confirmed are previews (link previews, scanners, scripts); internal views are staff
looking at the link (`internal.viewed`), which have no session and no read time. Opens, read
time and pages are the recipient's own: a forwarded reader's (portal.delivery.visitors) are
listed per visitor, not added here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking.models import Event, EventType, ViewSession


@dataclass
class DeliveryStats:
    opens: int = 0  # view sessions the viewer confirmed (a person saw the document)
    previews: int = 0  # view sessions never confirmed (link previews, scanners, scripts)
    internal_views: int = 0  # staff (signed in, or an API token) viewing the link
    read_seconds: int = 0  # credited read time of all sessions, rounded
    pages: dict[int, int] = field(default_factory=dict)  # page number -> seconds, rounded
    first_opened_at: datetime | None = None
    last_seen_at: datetime | None = None


def _seconds(ms: object) -> int:
    return round(int(ms or 0) / 1000)


def delivery_stats(delivery_ids: Iterable[int]) -> dict[int, DeliveryStats]:
    """Statistics of each delivery asked for (zeros for one never opened), in two queries."""
    ids = sorted(set(delivery_ids))
    stats = {delivery_id: DeliveryStats() for delivery_id in ids}
    if not ids:
        return stats
    own = ViewSession.customer_id == Delivery.customer_id  # not a forwarded reader's
    confirmed = ViewSession.confirmed_at.is_not(None) & own
    sessions = db.session.execute(
        select(
            ViewSession.delivery_id,
            func.count(case((confirmed, ViewSession.id))),
            func.count(case((ViewSession.confirmed_at.is_(None), ViewSession.id))),
            func.sum(case((own, ViewSession.credited_ms))),
            func.min(case((confirmed, ViewSession.confirmed_at))),
            func.max(case((confirmed, ViewSession.last_seen_at))),
        )
        .join(Delivery, Delivery.id == ViewSession.delivery_id)
        .where(ViewSession.delivery_id.in_(ids))
        .group_by(ViewSession.delivery_id)
    )
    for delivery_id, opens, previews, credited_ms, first_opened_at, last_seen_at in sessions:
        entry = stats[delivery_id]
        entry.opens = int(opens)
        entry.previews = int(previews)
        entry.read_seconds = _seconds(credited_ms)
        entry.first_opened_at = first_opened_at
        entry.last_seen_at = last_seen_at
    # The type is told apart here, not in the WHERE: with `type = 'page.viewed'` there, SQLite
    # walks the type index (the reports of every delivery) instead of the delivery index.
    pages = db.session.execute(
        select(Event.delivery_id, Event.type, Event.page, func.sum(Event.duration_ms))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(
            Event.delivery_id.in_(ids),
            Event.page.is_not(None),
            Event.customer_id == Delivery.customer_id,
        )
        .group_by(Event.delivery_id, Event.type, Event.page)
        .order_by(Event.delivery_id, Event.page)
    )
    for delivery_id, event_type, page, duration_ms in pages:
        if event_type == EventType.PAGE_VIEWED:
            stats[delivery_id].pages[int(page)] = _seconds(duration_ms)
    internal = db.session.execute(
        select(Event.delivery_id, func.count())
        .where(Event.delivery_id.in_(ids), Event.type == EventType.INTERNAL_VIEWED)
        .group_by(Event.delivery_id)
    )
    for delivery_id, count in internal:
        stats[delivery_id].internal_views = int(count)
    return stats
