"""Which way a batch (or another tracked event) goes: the Redis queue or the direct applier.

The one place the choice is made. With Redis (PORTAL_REDIS_URL, jobs not inline) a batch is
checked and appended to the stream (portal.tracking.ingest_queue); without, it is applied and
committed before the answer (portal.tracking.ingest). The queue imports the applier, never the
reverse; both are called from here with a batch checked once (a token from before tokens
carried the delivery cannot be queued: the same checked batch goes to the applier).
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.tracking import ingest, ingest_queue, ingest_rate
from portal.tracking.events import NewEvent, record
from portal.tracking.ingest_checks import claims, validate


def queued() -> bool:
    """Whether batches go through the Redis queue (Redis configured, jobs not run inline)."""
    config = current_app.config
    return bool(
        config.get("REDIS_URL")
        and not config.get("JOBS_INLINE")
        and config.get("INGEST_QUEUE", True)
    )


def receive(
    token: Any, payload: Any, rate_key: str | None = None
) -> tuple[dict[str, int], int, dict[str, str]]:
    """Take one batch from the viewer: the JSON answer, its status (202) and extra headers.

    Raises MalformedBatch (400), SessionNotFound (404), SessionGone (410), PayloadTooLarge
    (413), InvalidReport (422), IngestBusy (503), and RateLimited (429) when rate_key is over
    TRACKING_RATE_LIMIT (portal.tracking.ingest_rate: queued, counted in the enqueue's own
    Redis round trip; direct, before anything else)."""
    now = ingest.clock()
    if not queued():
        headers = ingest_rate.count(rate_key) if rate_key is not None else {}
        reports = validate(token, payload)
        return ingest.apply_checked(claims(token), reports, now).as_json(), 202, headers
    reports = validate(token, payload)
    found = claims(token)
    if found is not None and (found.delivery_id is None or found.delivery_created_at is None):
        # A token from before tokens carried the delivery: no tombstone key to check in Redis,
        # so it is applied the direct way (the database knows whether it was revoked).
        ingest.apply_checked(found, reports, now)
        return {"queued": len(reports)}, 202, {}
    done = ingest_queue.enqueue(found, reports, now, rate_key)
    return {"queued": done.reports}, 202, done.headers


def record_event(new: NewEvent) -> None:
    """Record an event: through the queue with Redis (stored by the applier, after the answer),
    else at once (the caller commits, as with portal.tracking.events.record)."""
    if queued():
        ingest_queue.enqueue_event(new)
    else:
        record(new)
