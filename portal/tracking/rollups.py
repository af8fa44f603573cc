"""Reading rollups: per send (`delivery_reads`) and per send and page (`delivery_page_reads`),
kept as events are applied, so content analytics (portal.read_models.analytics) reads one row
per send instead of its sessions and events.

Why per send and not per day and dimension: the figures are filtered by who may see which
send (a rep's own, a supervisor's team's customers, whose owners change), by the customer's
industry and region and the sender's team as they are now, and they include medians and a 75th
percentile. One row per send joins the sends those filters pick, so every filter and scope
stays exact; and the percentiles are computed exactly (the same numbers as a scan of the
events) from one read time per opened send and one per page read, instead of from buckets of
a histogram, which would round them. A send has a handful of rows; it has tens or hundreds of
events (P10 in docs/performance.md: 300,000 sends, 2,000,000 events).

What keeps them, in the transaction that changes what they count:

- `roll_up_events`, the rollup step in portal/event_handlers.py, sees every stored event (a
  forwarded reader's too: their confirmation turns the recipient's preview into nobody's):
  a recipient's page.viewed adds its credited time to the send and to the page; an
  internal.viewed adds an internal view; a link.opened recounts the send's opens and previews
  from its sessions (a confirmation moves a session from one to the other, or to a forwarded
  reader).
- `session_started` (portal.tracking.sessions.start_session): a new session is a preview (or,
  started confirmed by a script or the demo, an open) before any event names it.
- `rebuild` recomputes the rows of some sends (or all) from the raw rows: erasure, retention
  and a forwarded reader attributed to someone call it for the sends they touch;
  `flask --app wsgi analytics rebuild` and the migration that made the tables, for all.

Counts of opens and previews are recounted from the send's sessions under a lock on its
`delivery_reads` row (PostgreSQL: rows locked in id order, the recount then sees what a
concurrent confirmation committed); read time is added with INSERT … ON CONFLICT DO UPDATE
(x = x + excluded.x), which concurrent batches apply one after the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking.events import RecordedEvent
from portal.tracking.models import (
    DeliveryPageReads,
    DeliveryReads,
    Event,
    EventType,
    ViewSession,
)

PAGE_VIEWED = EventType.PAGE_VIEWED.value
INTERNAL_VIEWED = EventType.INTERNAL_VIEWED.value
LINK_OPENED = EventType.LINK_OPENED.value


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def roll_up_events(recorded: list[RecordedEvent]) -> None:
    """The rollup step of the one event path (every stored event, with or without customer)."""
    events = [r.event for r in recorded if r.event.delivery_id is not None]
    if not events:
        return
    recipients = _recipients({e.delivery_id for e in events})
    reads: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # delivery: [read_ms, internal]
    pages: dict[tuple[int, int], int] = defaultdict(int)
    opened: set[int] = set()
    for event in events:
        delivery_id = event.delivery_id
        if delivery_id not in recipients:
            continue
        if event.type == INTERNAL_VIEWED:
            reads[delivery_id][1] += 1
        elif event.type == LINK_OPENED and event.session_id is not None:
            opened.add(delivery_id)
        elif (
            event.type == PAGE_VIEWED
            and event.customer_id == recipients[delivery_id]
            and (event.duration_ms or 0) > 0
        ):
            if event.session_id is not None:
                reads[delivery_id][0] += event.duration_ms
            if event.page is not None:
                pages[(delivery_id, event.page)] += event.duration_ms
    _add_reads(reads)
    _add_pages(pages)
    recount_sessions(opened)


def session_started(delivery_id: int) -> None:
    """A session was started (a preview until confirmed): its send's counts are recounted."""
    recount_sessions({delivery_id})


def _recipients(delivery_ids: set[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Delivery.id, Delivery.customer_id).where(Delivery.id.in_(sorted(delivery_ids)))
    )
    return dict(rows.all())


def _add_reads(reads: dict[int, list[int]]) -> None:
    if not reads:
        return
    rows = [
        {
            "delivery_id": d,
            "opens": 0,
            "previews": 0,
            "read_ms": read_ms,
            "internal_views": internal,
        }
        for d, (read_ms, internal) in sorted(reads.items())
    ]
    statement = _insert(DeliveryReads)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[DeliveryReads.delivery_id],
            set_={
                "read_ms": DeliveryReads.read_ms + statement.excluded.read_ms,
                "internal_views": DeliveryReads.internal_views + statement.excluded.internal_views,
            },
        ),
        rows,
    )


def _add_pages(pages: dict[tuple[int, int], int]) -> None:
    if not pages:
        return
    rows = [{"delivery_id": d, "page": p, "read_ms": ms} for (d, p), ms in sorted(pages.items())]
    statement = _insert(DeliveryPageReads)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[DeliveryPageReads.delivery_id, DeliveryPageReads.page],
            set_={"read_ms": DeliveryPageReads.read_ms + statement.excluded.read_ms},
        ),
        rows,
    )


def _session_counts(delivery_ids: Iterable[int] | None) -> Any:
    """Per send: the recipient's confirmed and unconfirmed sessions."""
    query = (
        select(
            ViewSession.delivery_id,
            func.count(ViewSession.confirmed_at).label("opens"),
            func.sum(case((ViewSession.confirmed_at.is_(None), 1), else_=0)).label("previews"),
        )
        .join(Delivery, Delivery.id == ViewSession.delivery_id)
        .where(ViewSession.customer_id == Delivery.customer_id)
        .group_by(ViewSession.delivery_id)
    )
    if delivery_ids is not None:
        query = query.where(ViewSession.delivery_id.in_(list(delivery_ids)))
    return query


def recount_sessions(delivery_ids: set[int]) -> None:
    """Opens and previews of these sends, recounted from their sessions."""
    if not delivery_ids:
        return
    ids = sorted(delivery_ids)
    # The rows exist, then are locked in id order: a concurrent recount of the same send waits
    # here, and the count below (a new statement: a new snapshot) sees what it committed.
    db.session.execute(
        _insert(DeliveryReads).on_conflict_do_nothing(index_elements=[DeliveryReads.delivery_id]),
        [
            {"delivery_id": d, "opens": 0, "previews": 0, "read_ms": 0, "internal_views": 0}
            for d in ids
        ],
    )
    db.session.execute(
        select(DeliveryReads.delivery_id)
        .where(DeliveryReads.delivery_id.in_(ids))
        .order_by(DeliveryReads.delivery_id)
        .with_for_update()
    ).all()
    counts = {row.delivery_id: row for row in db.session.execute(_session_counts(ids))}
    params = [
        {
            "d": d,
            "o": int(counts[d].opens) if d in counts else 0,
            "p": int(counts[d].previews or 0) if d in counts else 0,
        }
        for d in ids
    ]
    db.session.execute(
        update(DeliveryReads.__table__)
        .where(DeliveryReads.__table__.c.delivery_id == bindparam("d"))
        .values(opens=bindparam("o"), previews=bindparam("p")),
        params,
    )


def rebuild(delivery_ids: Iterable[int] | None = None) -> int:
    """Recompute the rollup rows of these sends (None: every send) from the raw rows; the
    number of sends with a row. The caller commits."""
    ids = None if delivery_ids is None else sorted(set(delivery_ids))
    if ids is not None and not ids:
        return 0
    reads_table, pages_table = DeliveryReads.__table__, DeliveryPageReads.__table__
    if ids is None:
        db.session.execute(delete(pages_table))
        db.session.execute(delete(reads_table))
    else:
        db.session.execute(delete(pages_table).where(pages_table.c.delivery_id.in_(ids)))
        db.session.execute(delete(reads_table).where(reads_table.c.delivery_id.in_(ids)))

    def chosen(column: Any) -> Any:
        return column.in_(ids) if ids is not None else literal(True)

    recipient = Event.customer_id == Delivery.customer_id
    page_read = (Event.type == PAGE_VIEWED) & (Event.duration_ms > 0) & recipient
    pages = (
        select(Event.delivery_id, Event.page, func.sum(Event.duration_ms))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(page_read, Event.page.is_not(None), chosen(Event.delivery_id))
        .group_by(Event.delivery_id, Event.page)
    )
    db.session.execute(insert(pages_table).from_select(["delivery_id", "page", "read_ms"], pages))
    per_event = (
        select(
            Event.delivery_id.label("delivery_id"),
            func.sum(
                case((page_read & Event.session_id.is_not(None), Event.duration_ms), else_=0)
            ).label("read_ms"),
            func.sum(case((Event.type == INTERNAL_VIEWED, 1), else_=0)).label("internal"),
        )
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Event.type.in_([PAGE_VIEWED, INTERNAL_VIEWED]), chosen(Event.delivery_id))
        .group_by(Event.delivery_id)
        .subquery()
    )
    sessions = _session_counts(ids).subquery()
    sends = select(Delivery.id.label("delivery_id")).where(chosen(Delivery.id)).subquery()
    rows = (
        select(
            sends.c.delivery_id,
            func.coalesce(sessions.c.opens, 0),
            func.coalesce(sessions.c.previews, 0),
            func.coalesce(per_event.c.read_ms, 0),
            func.coalesce(per_event.c.internal, 0),
        )
        .select_from(sends)
        .outerjoin(sessions, sessions.c.delivery_id == sends.c.delivery_id)
        .outerjoin(per_event, per_event.c.delivery_id == sends.c.delivery_id)
        .where(  # a send with nothing to count has no row
            func.coalesce(sessions.c.opens, 0)
            + func.coalesce(sessions.c.previews, 0)
            + func.coalesce(per_event.c.read_ms, 0)
            + func.coalesce(per_event.c.internal, 0)
            > 0
        )
    )
    db.session.execute(
        insert(reads_table).from_select(
            ["delivery_id", "opens", "previews", "read_ms", "internal_views"], rows
        )
    )
    counted = select(func.count()).select_from(reads_table)
    if ids is not None:
        counted = counted.where(reads_table.c.delivery_id.in_(ids))
    return int(db.session.scalar(counted) or 0)
