"""Raw reading records are kept PORTAL_EVENT_RETENTION_DAYS (default 730), then deleted.

What goes: events that happened before the cut-off, view sessions last seen before it (their
user agent and address hash with them, and any event of theirs), and the address hashes of audit
entries older than it. What stays: the score ledger (its rows name the rule, the points and the
time; their event ids are cleared), so no score changes when old raw events go, and the sends
(deliveries) with their first and last open. The reading rollups of the sends that lose raw
records are recounted from what is left (portal.tracking.rollups.rebuild), so content analytics
shows what a scan of the remaining rows would. Run by the tick and by `privacy expire`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking import rollups
from portal.tracking.models import Event, ViewSession

DEFAULT_DAYS = 730
BATCH = 5000  # rows per statement: a first run on a large history does not hold one huge lock


@dataclass
class Expired:
    events: int = 0
    sessions: int = 0
    address_hashes: int = 0


def retention_days() -> int:
    days = int(current_app.config.get("EVENT_RETENTION_DAYS") or DEFAULT_DAYS)
    return max(days, 1)


def expire(now: datetime | None = None) -> Expired:
    """Delete raw records older than the retention period (the caller commits)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days())
    result = Expired()
    old_sessions = select(ViewSession.id).where(ViewSession.last_seen_at < cutoff)
    touched: set[int] = set()  # sends whose reading rollups are recounted without them
    while True:
        rows = db.session.execute(
            select(Event.id, Event.delivery_id)
            .where(or_(Event.occurred_at < cutoff, Event.session_id.in_(old_sessions)))
            .limit(BATCH)
        ).all()
        ids = [row.id for row in rows]
        touched.update(row.delivery_id for row in rows if row.delivery_id is not None)
        if not ids:
            break
        # The ledger keeps its points; only the link to the deleted event goes.
        db.session.execute(
            update(ScoreEntry).where(ScoreEntry.event_id.in_(ids)).values(event_id=None)
        )
        db.session.execute(delete(Event).where(Event.id.in_(ids)))
        result.events += len(ids)
    while True:
        rows = db.session.execute(
            select(ViewSession.id, ViewSession.delivery_id)
            .where(ViewSession.last_seen_at < cutoff)
            .limit(BATCH)
        ).all()
        ids = [row.id for row in rows]
        touched.update(row.delivery_id for row in rows)
        if not ids:
            break
        db.session.execute(delete(ViewSession).where(ViewSession.id.in_(ids)))
        result.sessions += len(ids)
    ordered = sorted(touched)
    for start in range(0, len(ordered), BATCH):
        rollups.rebuild(ordered[start : start + BATCH])
    hashed = db.session.execute(
        update(AuditEntry)
        .where(AuditEntry.at < cutoff, AuditEntry.ip_hash != "")
        .values(ip_hash="")
        .execution_options(synchronize_session=False)
    )
    result.address_hashes = hashed.rowcount or 0
    return result
