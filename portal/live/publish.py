"""Publishing what customers read, as it is applied: an event handler stages one message per
reading session of the batch, and the commit publishes them on Redis pub/sub (every app node's
`GET /live` streams listen). Nothing is published for a batch that rolls back, and nothing
without Redis (the pages then poll portal.live.readers, read from the database).

Which events: a confirmed open (`link.opened`) and read-time reports (`page.viewed`), the only
events of a confirmed session. The one event path hands handlers only a customer's events (a
forwarded reader nobody identified is none), a preview never confirms and so never reports,
and a staff member's look is `internal.viewed`: so a message is only ever the real customer.
A `page.viewed` marked `final` (the viewer's `pagehide` beacon) publishes `stopped`.
"""

from __future__ import annotations

import json
import logging

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.tracking import revocations
from portal.tracking.events import RecordedEvent
from portal.tracking.models import EventType, ViewSession

log = logging.getLogger(__name__)
_STAGED = "portal.live.staged"
_LIVE_TYPES = frozenset({EventType.LINK_OPENED.value, EventType.PAGE_VIEWED.value})


def channel() -> str:
    """The pub/sub channel (under the ingest key prefix: pub/sub ignores Redis database
    numbers, so two deployments or test runs sharing a server keep apart by name)."""
    return f"{revocations.key_prefix()}:live"


def publish_reading(recorded: list[RecordedEvent]) -> None:
    """Event handler (portal/event_handlers.py): stage the batch's latest state of each reading
    session, published after the commit."""
    latest = {}
    for r in recorded:
        e = r.event
        if e.type in _LIVE_TYPES and e.session_id and e.delivery_id and e.customer_id:
            latest[e.session_id] = e
    if not latest:
        return
    confirmed = dict(
        db.session.execute(
            select(ViewSession.id, ViewSession.confirmed_at).where(
                ViewSession.id.in_(latest), ViewSession.confirmed_at.is_not(None)
            )
        ).all()
    )
    staged = db.session.info.setdefault(_STAGED, [])
    for session_id, e in latest.items():
        since = confirmed.get(session_id)
        if since is None:
            continue  # not confirmed: a preview (which cannot report anyway)
        final = e.type == EventType.PAGE_VIEWED and bool((e.properties or {}).get("final"))
        staged.append(
            {
                "event": "stopped" if final else "reading",
                "customer_id": e.customer_id,
                "delivery_id": e.delivery_id,
                "page": e.page if e.page is not None else 1,
                "since": since.isoformat(),
            }
        )


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    messages = session.info.pop(_STAGED, None)
    if messages:
        _send(messages)


def _send(messages: list[dict]) -> None:
    """Publish on Redis (nothing without it: the pages poll the database)."""
    try:
        redis_url = current_app.config.get("REDIS_URL")
    except RuntimeError:
        return
    if not redis_url:
        return
    from portal import jobs

    try:
        connection = jobs.redis_connection()
        name = channel()
        pipe = connection.pipeline(transaction=False)
        for message in messages:
            pipe.publish(name, json.dumps(message, separators=(",", ":")))
        pipe.execute()
    except Exception:  # the pages' next snapshot (stream reconnect, poll) shows it anyway
        log.exception("could not publish %d reading message(s)", len(messages))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_STAGED, None)
