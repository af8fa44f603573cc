"""nginx's download gate, the app's half: which tracked downloads nginx may replay, how, and for
how long (deploy/nginx/portal_gate.lua is nginx's half; docs/deploy.md, "The download gate").

Behind nginx the bytes of a download no longer go through gunicorn, but every download still
costs a gunicorn request for the check and the record, and that request, not the file, is what
limits a node (P1n). The gate lets nginx answer a download the app has just answered for the
same inputs, without asking it again:

- The app stays the one place that decides. When nginx asks (the X-Portal-Gate header carries
  PORTAL_DOWNLOAD_GATE_SECRET) and the answer is an X-Accel-Redirect, the app adds a decision
  (sending.DECISION_HEADER): how long it may be kept, the replay script's sha and keys, the
  Redis it runs on, and the event it recorded with the time and nginx's request id left to fill
  in (portal.tracking.ingest_queue.replay). nginx keeps it, with the answer's file and headers,
  in a shared dict keyed by everything the decision depended on: the URL, the User-Agent
  (robots), the scheme (HSTS) and the whole Cookie header (the device and passcode cookies; a
  staff session). A request with an Authorization header is never replayed.
- A replay records as the app does, before the answer: the same entry goes to the same stream
  (the one Redis round trip, the durable write), with an idempotency key per nginx request id
  (served_files.download_key), so a request nginx sends twice counts once. When the script set
  the drain flag, nginx asks the app to queue the drain (POST /_gate/drain). A decision near
  its end is renewed by nginx in the background (REFRESH_HEADER: decided, not recorded).
- The revocation bound, without a message that could be lost: the script refuses a replay
  unless the generation of the change counter the copy was read under is confirmed now
  (revocations.generation_key): the app's processes set that key after each reading of the
  counter (portal.delivery.link_cache), until one second after the reading began, never
  longer. A change to a copy moves the counter in its own transaction; no reading confirms the
  old generation again, so no replay of the old decision runs more than a second after the
  change commits. A revoke stops them at once: the script also refuses while the delivery's
  tombstone exists (written as the revoke commits). When the script refuses, or Redis does,
  nginx lets the app answer, which reads the counter (confirming the generation again when it
  has not moved) and decides anew. A decision lives at most TTL_MS (DEVICE_TTL_MS when the
  request names a device: see decision()), and never past the link's expiry.
- Not replayed: staff with an Authorization header, presigned redirects, answers other than
  X-Accel-Redirect, downloads without Redis or without nginx's request id.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from portal.db_types import utcnow
from portal.delivery import link_cache
from portal.errors import NotFound
from portal.extensions import db
from portal.tracking import ingest_path, ingest_queue, revocations
from portal.tracking.events import NewEvent

ASK_HEADER = "X-Portal-Gate"
# With ASK_HEADER: the gate renews a decision in the background (no client is waiting, and the
# download is not the customer's): the app decides and records nothing. nginx drops a client's.
REFRESH_HEADER = "X-Portal-Gate-Refresh"
VERSION = "v2"  # the decision's format, checked by portal_gate.lua
TTL_MS = 60_000  # a decision's longest life; the generation's key bounds it to the second
DEVICE_TTL_MS = 1000  # a decision that depends on a device's Visitor row (see decision())
MIN_TTL_MS = 50  # less is not worth keeping


def asked(value: str | None) -> bool:
    """Whether the request came through nginx's gate: ASK_HEADER carries the configured secret
    (none configured: never)."""
    secret = current_app.config.get("DOWNLOAD_GATE_SECRET") or ""
    if not secret or not value:
        return False
    return hmac.compare_digest(value.encode(), secret.encode())


@dataclass(frozen=True)
class Prepared:
    """What prepare() saw: the link cache's epoch after a reading of the change counter, and
    when prepare() began (time.monotonic, the clock of link_cache.transaction_began)."""

    epoch: int
    at: float


def prepare() -> Prepared | None:
    """Before the copy is resolved: the link cache's epoch after reading the change counter
    now, for decision(); None when no decision can be made (no counter to go by). Reading it
    now, not within the last second, means that every change committed before this request
    is seen, so the copy resolved next is read under the generation the decision names.
    nginx asks the app only on a miss or a renewal, so this is one small query per decision."""
    if not ingest_path.queued():
        return None
    at = time.monotonic()
    epoch = link_cache.cache().trusted_epoch()
    return None if epoch is None else Prepared(epoch, at)


def decision(
    delivery_id: int,
    created_at: datetime | None,
    expires_at: datetime | None,
    event: NewEvent | None,
    *,
    prepared: Prepared | None,
    device: bool = False,
) -> str | None:
    """The decision nginx may replay for a download of delivery_id (created at created_at, its
    link living until expires_at) the app just answered, which recorded `event` (None: nothing
    recorded, a robot's) with an idempotency key naming ingest_queue.REPLAY_REQUEST; None when
    it may not be replayed. `device`: the request named a device (its cookie), so whose
    download it is, and a watermarked copy's mark, come from that device's Visitor row, which
    changes without moving the counter (a forwarded reader says who they are): such a
    decision lives DEVICE_TTL_MS, as the app itself would read the row again.
    One line of space-separated fields (nginx has no JSON parser): VERSION, the TTL in ms, the
    replay script's sha, the drain flag's TTL, the four keys (tombstone, stream, drain flag,
    generation), Redis's host, port and database, and the entry in base64 ("-": record
    nothing)."""
    if prepared is None or not ingest_path.queued() or created_at is None:
        return None
    # The copy was resolved after prepare(): if the cache has not been emptied since, it was
    # read under the generation prepare's reading found, and replays run only while that
    # generation's key says it is current. A read in a transaction begun before prepare() (an
    # older snapshot, on SQLite) may predate that reading: no decision then.
    began = link_cache.transaction_began(db.session())
    if began is not None and began < prepared.at:
        return None
    generation = link_cache.cache().generation_since(prepared.epoch)
    if generation is None:
        return None
    now = utcnow()
    ttl_ms = DEVICE_TTL_MS if device else TTL_MS
    if expires_at is not None:
        ttl_ms = min(ttl_ms, int((expires_at - now).total_seconds() * 1000))
    if ttl_ms < MIN_TTL_MS:
        return None
    where = _redis_address()
    if where is None:
        return None
    tombstone = revocations.gone_key(delivery_id, created_at)
    replay = ingest_queue.replay(event, tombstone, generation)
    entry = base64.b64encode(replay.entry.encode()).decode() if replay.entry else "-"
    fields = [
        VERSION,
        str(ttl_ms),
        replay.script_sha,
        str(replay.flag_ttl_ms),
        *replay.keys,
        *where,
        entry,
    ]
    if any(not field or any(ch.isspace() for ch in field) for field in fields):
        return None
    return " ".join(fields)


def _redis_address() -> tuple[str, str, str] | None:
    """Host, port and database of the app's Redis; None when nginx could not reach it the same
    way (a Unix socket, a password, TLS): then nothing is replayed."""
    from portal import jobs

    options = jobs.redis_connection().connection_pool.connection_kwargs
    if options.get("path") or options.get("password") or options.get("ssl"):
        return None
    return (
        str(options.get("host", "localhost")),
        str(options.get("port", 6379)),
        str(options.get("db", 0)),
    )


def queue_drain(value: str | None) -> None:
    """nginx's gate set the drain flag while replaying a download: queue the drain the app
    would have queued. NotFound unless the request came through the gate."""
    if not asked(value) or not ingest_path.queued():
        raise NotFound("not found")
    ingest_queue.queue_drain()
