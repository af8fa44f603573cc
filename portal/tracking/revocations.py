"""Revocation as Redis sees it, for the paths that answer without the database.

With Redis, read-time reports are acknowledged before anything touches the database
(portal.tracking.ingest_queue), so "this delivery was revoked" must be known there: a tombstone
key per revoked delivery (gone_key). It is written right after the commit that revokes (any ORM
change of Delivery.revoked_at or Link.revoked_at), so from the next request on every app node
answers 410.
A tombstone lives as long as an ingest token can (sessions.INGEST_MAX_AGE, plus a margin): after
that, every token that could name the delivery has expired anyway.

If Redis cannot be written at that moment the revocation still holds in the database (every
page, download and the direct ingest path read it there) and the queue's applier writes the
tombstone again when it meets a revoked delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from portal import jobs
from portal.delivery.models import Delivery
from portal.tracking.models import Link
from portal.tracking.sessions import INGEST_MAX_AGE

log = logging.getLogger(__name__)

TOMBSTONE_TTL = INGEST_MAX_AGE + 3600
_REVOKED = "portal.revoked_deliveries"


def key_prefix() -> str:
    """The prefix of every ingest key in Redis (config INGEST_REDIS_PREFIX, default "portal");
    the {ingest} hash tag keeps them in one Redis Cluster slot, as one script needs."""
    return f"{current_app.config.get('INGEST_REDIS_PREFIX', 'portal')}:{{ingest}}"


def generation_key(generation: int, prefix: str | None = None) -> str:
    """The key that says what was read under `generation` of the copies' change counter is
    still current (portal.delivery.link_cache sets it after each reading of the counter, for
    the rest of that reading's second only; nginx's download gate replays only while it
    exists)."""
    return f"{prefix or key_prefix()}:copygen:{generation}"


def gone_key(delivery_id: int, created_at: datetime) -> str:
    """The tombstone of one delivery. Its creation time is part of the key: a delivery id
    reused by another database on the same Redis (a re-seeded instance) is another key."""
    return f"{key_prefix()}:gone:{delivery_id}:{round(created_at.timestamp() * 1000)}"


def mark_gone(deliveries: Iterable[tuple[int, datetime]]) -> None:
    """Write the tombstones of these (delivery id, created_at) (a no-op without Redis)."""
    redis = jobs.redis_connection()
    keys = sorted({gone_key(delivery_id, created_at) for delivery_id, created_at in deliveries})
    if redis is None or not keys:
        return
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, 1, ex=TOMBSTONE_TTL)
        pipe.execute()


def _remember(target: object, delivery_id: int | None) -> None:
    session = object_session(target)
    if session is not None and delivery_id is not None:
        session.info.setdefault(_REVOKED, set()).add(delivery_id)


@event.listens_for(Delivery.revoked_at, "set")
def _delivery_revoked(target: Delivery, value, _old, _initiator) -> None:
    if value is not None:
        _remember(target, target.id)


@event.listens_for(Link.revoked_at, "set")
def _link_revoked(target: Link, value, _old, _initiator) -> None:
    if value is not None:
        _remember(target, target.delivery_id)


@event.listens_for(Session, "before_commit")
def _stamp(session: Session) -> None:
    # Still inside the transaction: look up the creation times the tombstone keys need.
    revoked = session.info.get(_REVOKED)
    if revoked:
        session.info[_REVOKED] = session.execute(
            select(Delivery.id, Delivery.created_at).where(Delivery.id.in_(sorted(revoked)))
        ).all()


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    revoked = session.info.pop(_REVOKED, None)
    if not revoked:
        return
    try:
        mark_gone(revoked)
    except Exception:  # the database holds the revocation; the applier re-marks it
        log.exception("could not publish the revocation of deliveries %s", revoked)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_REVOKED, None)
