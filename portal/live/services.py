"""Live "reading now" for staff pages: the stream (`GET /live`) and the polling answer
(`GET /live/now`), both limited to the customers the user may see (visible_to)."""

from __future__ import annotations

from flask import current_app

from portal import jobs
from portal.accounts.models import User
from portal.db_types import utcnow
from portal.errors import PortalError
from portal.live import publish, readers
from portal.live.stream import POLL_SECONDS, Slots, Stream

_SLOTS = "portal.live.slots"


class StreamRefused(PortalError):
    """No stream now: the page polls instead, for Retry-After seconds."""

    status = 503
    retry_after = POLL_SECONDS


class StreamsFull(StreamRefused):
    code = "busy"


class NoStreamWithoutRedis(StreamRefused):
    code = "live_needs_redis"
    retry_after = 3600  # nothing will change until the server is configured with Redis


def max_streams() -> int:
    return int(current_app.config.get("LIVE_STREAMS") or 2)


def slots() -> Slots:
    """This process's stream slots (one per app, so per gunicorn worker process)."""
    found = current_app.extensions.get(_SLOTS)
    if found is None:
        found = current_app.extensions.setdefault(_SLOTS, Slots(max_streams()))
    return found


def streams_available() -> bool:
    """Whether this deployment streams (Redis pub/sub); without Redis pages poll."""
    return bool(current_app.config.get("REDIS_URL"))


def open_stream(user: User) -> Stream:
    """The user's stream; refused (503) without Redis or when this process has MAX_STREAMS
    open. Subscribes before reading the snapshot, so nothing committed in between is lost."""
    if not streams_available():
        raise NoStreamWithoutRedis("live updates need Redis; poll GET /live/now")
    pool = slots()
    if not pool.take():
        raise StreamsFull(f"{pool.limit} live streams open in this process; poll meanwhile")
    try:
        pubsub = jobs.redis_connection().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(publish.channel())
        visible = readers.visible_customer_ids(user)
        snapshot = readers.reading_now(user, utcnow())
    except Exception:
        pool.give_back()
        raise
    lifetime = current_app.config.get("LIVE_STREAM_SECONDS")
    return Stream(
        visible=visible,
        snapshot=snapshot,
        pubsub=pubsub,
        slots=pool,
        **({"lifetime": float(lifetime)} if lifetime else {}),
    )


def now_reading(user: User) -> dict:
    """The polling answer: who reads now, and when to ask again."""
    return {
        "readers": [r.payload() for r in readers.reading_now(user, utcnow())],
        "poll_seconds": POLL_SECONDS,
    }
