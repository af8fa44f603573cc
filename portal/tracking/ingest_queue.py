"""Queued read-time ingest (with Redis): acknowledge after a durable enqueue, apply in bulk.

The request (enqueue):
    Everything that can refuse a batch runs first, without the database
    (portal.tracking.ingest_checks: shape, values, pages, token signature, age and expiry). Then
    one Lua script, one round trip: refuse if the delivery's revocation tombstone exists
    (portal.tracking.revocations), else XADD the batch to the stream and SET the drain flag NX
    with a short TTL. The answer is 202 {"queued": n} once Redis has the entry: from then on
    the batch will be stored (nothing after this point refuses it), exactly once (report keys
    are unique). When the script set the flag, the request also queues a drain job on RQ.

    Durability is Redis's: run it with appendonly yes and appendfsync no (docs/deploy.md): Redis
    hands each round's writes to the kernel before it answers them, so a Redis killed or crashed
    loses no acknowledged report (two edge cases in docs/deploy.md) (`always` also survives the
    host's loss, at an fsync per answer). Not everysec: it answers writes it has not yet written
    to the file while an earlier fsync runs, and a kill then loses up to ~2 s of acknowledged
    reports.

The drain (an RQ job, `drain_job`):
    Reads the stream as consumer group GROUP, up to READ_COUNT entries at a time, applies them
    in one transaction (portal.tracking.ingest.apply_batches: budgets, doc.read summaries, one
    record_many for all, so scoring and task handlers run set-based), commits, then XACKs and
    XDELs them. It loops until the stream is empty (a job hands over to a follow-up job when
    an alert waits, so that alerts go first: drain_job), then clears the flag and looks once
    more (an entry added between its last read and the clear found the flag still
    set and queued no job: this second look catches it; one added after the clear sets the
    flag and queues a job).

Why nothing is stranded, and is stored within seconds of a fault's end:
    - The flag has a TTL (FLAG_TTL_MS), refreshed by a live drain on every round. A drain job
      that is killed stops refreshing it: at most FLAG_TTL_MS later the flag is free again.
    - Every worker's watchdog (portal.tracking.ingest_watchdog) looks at the stream every
      second: entries there and the flag free → it sets the flag and queues a drain. So a drain
      that died, failed or found entries it could not take yet is followed by another within a
      second or two, whether or not reports keep coming, and without RQ's scheduler (whose
      lock a dead worker holds for a minute) or RQ's retries (which need that scheduler).
    - A drain reads as a stable consumer, "<host>-<worker name>" (PORTAL_WORKER_NAME), and
      first re-reads its own pending entries (XREADGROUP from id 0): a worker restarted after
      a kill takes back at once what its predecessor had read and not acknowledged. Entries of
      a consumer that does not come back (another host's) are re-claimed (XAUTOCLAIM) once
      pending CLAIM_IDLE_MS (5 s, well above the time one round takes). Re-applying is
      harmless: a report whose key is stored is a duplicate and credits nothing, and the
      doc.read summary only moves with new reports, so a round that committed but died before
      its XACK counts once; two drains applying the same entry at once (a flag that expired
      under a slow round) are serialised by the unique keys (ingest.with_retries).
    - A drain that ends removes the group's consumers that own nothing (killed drains' names
      would otherwise pile up in the group).
    - A round that fails because the database is down leaves its entries pending, ends the
      drain (counted failed) and shortens the flag to OUTAGE_RETRY_MS: the watchdog queues the
      next attempt a few seconds later. An entry that fails alone, with the database up, is a
      bug, not load: after POISON_DELIVERIES attempts it moves to the DEAD stream (kept,
      logged) instead of blocking every report behind it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError, OperationalError

from portal import jobs, metrics, redis_scripts
from portal.db_types import utcnow
from portal.tracking import ingest_rate, revocations
from portal.tracking.events import NewEvent
from portal.tracking.ingest import Batch, apply_batches, with_retries
from portal.tracking.ingest_checks import (
    Report,
    SessionGone,
    check_live,
    check_pages,
)
from portal.tracking.sessions import IngestClaims

log = logging.getLogger(__name__)

GROUP = "appliers"
FLAG_TTL_MS = 5_000
CLAIM_IDLE_MS = 5_000
OUTAGE_RETRY_MS = 2_000  # a drain that met a database outage: the next one this much later
READ_COUNT = 1_000
# A drain job (drain_job) sizes its rounds to take about this long, from the time its last
# round took per entry, so that an alert waits at most about this long for the round in
# progress: a round of READ_COUNT took 1-3 s under the P2 load on this 2-core machine.
ROUND_SECONDS = 0.5
ROUND_FIRST_COUNT = 100
ROUND_MIN_COUNT = 20
POISON_DELIVERIES = 5

# One round trip for everything the request needs from Redis.
# KEYS: the delivery's tombstone, the stream, the drain flag, then one counter per rate limit.
# ARGV: the entry ("" for an empty batch: nothing to add), the flag's TTL (ms), then per rate
# limit its amount and window (ms). Returns {outcome, count, ttl (ms), count, ttl, ...}: outcome
# -2 (over a rate limit: nothing added), -1 (revoked: nothing added), 0 (added), 1 (added and the
# flag set: queue a drain), 2 (empty batch, not revoked).
_ENQUEUE = """
local answer = {0}
local limited = false
for i = 4, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i - 4]) end
  table.insert(answer, count)
  table.insert(answer, redis.call('PTTL', KEYS[i]))
  if count > tonumber(ARGV[2 * i - 5]) then limited = true end
end
if limited then answer[1] = -2 return answer end
if redis.call('EXISTS', KEYS[1]) == 1 then answer[1] = -1 return answer end
if ARGV[1] == '' then answer[1] = 2 return answer end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[1])
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then answer[1] = 1 end
return answer
"""
_SCRIPT = "portal.ingest.enqueue_script"


@dataclass(frozen=True)
class Queued:
    """What the request learnt: the reports queued, and the rate-limit headers to send."""

    reports: int
    headers: dict[str, str]


def _rate_limits(rate_key: str | None) -> list[tuple[str, int, int]]:
    """(counter key, amount, window seconds) of each tracking rate limit for this caller: fixed
    windows, as Flask-Limiter counts them (counted before the batch is looked at further)."""
    if rate_key is None or not ingest_rate.enabled():
        return []
    digest = hashlib.blake2b(rate_key.encode(), digest_size=12).hexdigest()
    prefix = revocations.key_prefix()
    return [
        (
            f"{prefix}:rate:{item.amount}/{item.get_expiry()}:{digest}",
            item.amount,
            item.get_expiry(),
        )
        for item in ingest_rate.limits_of(current_app.config["TRACKING_RATE_LIMIT"])
    ]


def deployment() -> str:
    """A short fingerprint of this deployment (of its SECRET_KEY): an applier sets aside the
    entries of another deployment that shares its Redis database by mistake, rather than
    storing them against its own sessions."""
    secret = current_app.config["SECRET_KEY"]
    cached = _fingerprints.get(secret)
    if cached is None:
        cached = hashlib.blake2b(secret.encode(), digest_size=6, person=b"ingest").hexdigest()
        _fingerprints[secret] = cached
    return cached


_fingerprints: dict[str, str] = {}


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def enqueue(
    found: IngestClaims | None, reports: list[Report], now: datetime, rate_key: str | None = None
) -> Queued:
    """Append a batch, validated already (portal.tracking.ingest_path), to the stream.

    Raises, with nothing queued: SessionNotFound (404), SessionGone (410: expired, revoked),
    InvalidReport (422: a page the document does not have), RateLimited (429: over
    TRACKING_RATE_LIMIT for rate_key).
    """
    found = check_live(found, now)
    check_pages(reports, found.page_count)
    entry = ""
    if reports:
        rows = [r.as_row() for r in reports]
        entry = json.dumps(
            {"d": deployment(), "s": found.session_id, "t": _epoch_ms(now), "r": rows},
            separators=(",", ":"),
        )
    keys = _Keys.now()
    limits = _rate_limits(rate_key)
    args: list[Any] = [entry, FLAG_TTL_MS]
    for _key, amount, window in limits:
        args += [amount, window * 1000]
    gone = revocations.gone_key(found.delivery_id, found.delivery_created_at)
    answer = redis_scripts.run(
        redis_scripts.app_script(_SCRIPT, _ENQUEUE),
        [gone, keys.stream, keys.flag, *[key for key, _a, _w in limits]],
        args,
    )
    outcome, counters = answer[0], answer[1:]
    headers = _limit_headers(limits, counters, now)
    if outcome == -2:
        raise ingest_rate.RateLimited(ingest_rate.message(), headers)
    if outcome == -1:
        raise SessionGone("this document link has expired or was revoked")
    if outcome == 1:
        queue_drain()
    return Queued(len(reports), headers)


def enqueue_event(new: NewEvent) -> None:
    """Queue one event of another path (a download) for the applier, which stores it through
    record_many like the reports. It gets an idempotency key now, so that an entry applied
    twice (re-claimed after a crash) is stored once."""
    if new.idempotency_key is None:
        new.idempotency_key = f"q:{uuid.uuid4().hex}"
    entry = _event_entry(new, _epoch_ms(new.occurred_at or utcnow()))
    keys = _Keys.now()
    answer = redis_scripts.run(
        redis_scripts.app_script(_SCRIPT, _ENQUEUE),
        [f"{keys.stream}:never-gone", keys.stream, keys.flag],
        [entry, FLAG_TTL_MS],
    )
    if answer[0] == 1:
        queue_drain()


def _event_entry(new: NewEvent, occurred_at: int | str) -> str:
    event = {
        "customer_id": new.customer_id,
        "visitor_id": new.visitor_id,
        "type": str(new.type),
        "delivery_id": new.delivery_id,
        "session_id": new.session_id,
        "page": new.page,
        "section": new.section,
        "duration_ms": new.duration_ms,
        "occurred_at": occurred_at,
        "idempotency_key": new.idempotency_key,
        "properties": new.properties,
    }
    return json.dumps({"d": deployment(), "e": event}, separators=(",", ":"))


# What nginx's download gate (portal.delivery.download_gate) puts in a replayed entry's place.
REPLAY_TIME = "@T@"  # the time in epoch ms (the JSON string "@T@" becomes a number)
REPLAY_REQUEST = "@R@"  # nginx's $request_id (32 hex digits)


# The download gate's one round trip (portal.delivery.download_gate): enqueue_event's append,
# refused while the copy's generation is not confirmed (KEYS[4]: set by the app's processes
# after each reading of the change counter, for the rest of that second only), or once the
# delivery is revoked. KEYS: the tombstone, the stream, the drain flag, the generation's key.
# ARGV: the entry ("": record nothing, a robot's), the flag's TTL. Returns {outcome}: -3 (the
# generation not confirmed now), -1 (revoked), 2 (nothing to record), 0 (added), 1 (added and
# the flag set: queue a drain).
_REPLAY = """
if redis.call('EXISTS', KEYS[4]) == 0 then return {-3} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
if ARGV[1] == '' then return {2} end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[1])
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return {1} end
return {0}
"""


@dataclass(frozen=True)
class Replay:
    """How the download gate appends an event of the same shape as enqueue_event's, without the
    app: the script (loaded) and keys of the one round trip, and the entry with the time and
    the request id left to fill in."""

    script_sha: str
    keys: tuple[str, str, str, str]  # the tombstone, the stream, the drain flag, the generation
    flag_ttl_ms: int
    entry: str  # "" when nothing is recorded (a robot's download)


def replay(new: NewEvent | None, tombstone: str, generation: int) -> Replay:
    """The replay of `new` (None: nothing to record) with the delivery's tombstone key and the
    generation its copy was read under: a replayed download is refused as soon as its delivery
    is revoked, and whenever the generation is not confirmed. new.idempotency_key must contain
    REPLAY_REQUEST. Loads the script (again after a Redis restart: one round trip a decision)."""
    keys = _Keys.now()
    entry = ""
    if new is not None:
        if REPLAY_REQUEST not in (new.idempotency_key or ""):
            raise ValueError("a replayed event's key names the request")
        entry = _event_entry(new, REPLAY_TIME)
    sha = jobs.redis_connection().script_load(_REPLAY)
    keys4 = (tombstone, keys.stream, keys.flag, revocations.generation_key(generation))
    return Replay(sha, keys4, FLAG_TTL_MS, entry)


def _limit_headers(limits: list, counters: list, now: datetime) -> dict[str, str]:
    """X-RateLimit-* (and Retry-After) of the tightest limit, from the script's counters."""
    stats = []
    for i, (_key, amount, window) in enumerate(limits):
        count, ttl_ms = int(counters[2 * i]), int(counters[2 * i + 1])
        reset_in = max(1, -(-ttl_ms // 1000)) if ttl_ms > 0 else window
        stats.append((amount - count, amount, reset_in))
    return ingest_rate.headers(stats, now.timestamp())


def queue_drain() -> None:
    """Queue a drain job on RQ (the caller set the drain flag). No RQ retries: the watchdog
    queues the next drain when this one fails or its worker dies."""
    try:
        jobs.enqueue_now(drain_job)
    except Exception:
        # The entry is in the stream: the flag expires and a later report (or the follow-up
        # of a running drain) queues the job.
        log.exception("could not queue the ingest drain job")


def queue_drain_if_waiting() -> bool:
    """Queue a drain when the stream holds entries and none is running (the drain flag is
    free: SET NX, so one caller of many wins); whether it did. The workers' watchdog
    (portal.tracking.ingest_watchdog) calls it, so that entries left by a dead drain never
    wait for the next report."""
    redis = jobs.redis_connection()
    keys = _Keys.now()
    if not redis.xlen(keys.stream):
        return False
    if not redis.set(keys.flag, 1, nx=True, px=FLAG_TTL_MS):
        return False  # a drain is running (or was just queued)
    queue_drain()
    return True


def release_own_flag() -> bool:
    """Free the drain flag if a drain of this worker holds it (the flag names the consumer);
    whether it did. The worker calls it when no drain of its own can be running: at its start
    (the holder was its killed predecessor) and after a Redis outage (the drain then failed).
    Without it the next drain would wait for the flag to expire (FLAG_TTL_MS). A drain of this
    worker still alive would only mean two drains at once, which the unique keys make safe."""
    redis = jobs.redis_connection()
    keys = _Keys.now()
    return bool(redis.eval(_RELEASE, 1, keys.flag, _consumer_name()))


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# -- the applier ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    stream: str
    flag: str
    dead: str

    @classmethod
    def now(cls) -> _Keys:
        prefix = revocations.key_prefix()
        return cls(f"{prefix}:stream", f"{prefix}:drain", f"{prefix}:dead")


def _item(fields: dict[bytes, bytes]):
    """An entry as the applier takes it: a Batch of reports, or a NewEvent (enqueue_event)."""
    body = json.loads(fields[b"b"])
    if "e" in body:
        event = dict(body["e"])
        event["occurred_at"] = datetime.fromtimestamp(event["occurred_at"] / 1000, UTC)
        return NewEvent(**event)
    reports = [Report.from_row(i, row) for i, row in enumerate(body["r"])]
    received_at = datetime.fromtimestamp(body["t"] / 1000, UTC)
    return Batch(int(body["s"]), reports, received_at)


def _ensure_group(redis, keys: _Keys) -> None:
    try:
        # From id 0: entries added before the group existed are applied too.
        redis.xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _consumer_name() -> str:
    """Stable per host and worker: a restarted worker's drain finds its predecessor's entries."""
    name = current_app.config.get("WORKER_NAME") or os.getpid()
    return f"{socket.gethostname()}-{name}"


def drain_job() -> int:
    """The RQ job: a drain that gives way to alerts. Workers take the alerts queue first
    (portal.jobs.queue_names), but not while a drain runs: with a backlog, one drain ran 25 s
    and every alert waited behind it (P9). So between two rounds, when an alert waits, the job
    keeps the drain flag, queues its follow-up and returns; the worker sends the alert, then
    drains on. (A drain cut into fixed 1 s jobs instead drained a P2 backlog 50 % slower.)
    On a `--no-alerts` worker, which never takes the alert, it drains in full rounds."""
    return drain(give_way=jobs.alerts_waiting if jobs.takes_alerts() else None)


def drain(max_rounds: int | None = None, give_way: Callable[[], bool] | None = None) -> int:
    """Apply everything the stream holds; the number of entries applied.

    max_rounds limits the rounds (tests use it to stop a drain half-way, as a crash would).
    give_way, asked between rounds: when true, the drain keeps the flag, queues a follow-up
    job and returns (drain_job)."""
    try:
        applied = _drain(max_rounds, give_way)
    except Exception as exc:
        metrics.DRAINS.labels("failed").inc()
        if _outage(exc):
            # The entries stay pending; the watchdog queues the next drain once the flag
            # expires. One line, no traceback: the database is down, not this job.
            log.warning("ingest drain stopped: the database is unavailable (%s)",
                        type(exc).__name__)  # fmt: skip
            jobs.redis_connection().pexpire(_Keys.now().flag, OUTAGE_RETRY_MS)
            return 0
        raise
    metrics.DRAINS.labels("done").inc()
    metrics.DRAINED.inc(applied)
    return applied


def _drain(max_rounds: int | None, give_way: Callable[[], bool] | None = None) -> int:
    redis = jobs.redis_connection()
    keys = _Keys.now()
    _ensure_group(redis, keys)
    consumer = _consumer_name()
    applied = rounds = 0
    count = READ_COUNT if give_way is None else min(READ_COUNT, ROUND_FIRST_COUNT)
    while max_rounds is None or rounds < max_rounds:
        if rounds and give_way is not None and give_way():
            # The flag stays set (refreshed last round), so no report queues another drain
            # meanwhile; the follow-up goes behind the alert that is waiting.
            redis.set(keys.flag, consumer, px=FLAG_TTL_MS)
            queue_drain()
            break
        rounds += 1
        redis.set(keys.flag, consumer, px=FLAG_TTL_MS)  # held, and by whom
        entries = (
            (_read_own(redis, keys, consumer, count) if rounds == 1 else [])
            or _reclaim(redis, keys, consumer, count)
            or _read_new(redis, keys, consumer, count)
        )
        if not entries:
            redis.delete(keys.flag)
            entries = _read_new(redis, keys, consumer, count)  # see the module docstring
            if not entries:
                break
            redis.set(keys.flag, consumer, px=FLAG_TTL_MS)
        started = time.monotonic()
        applied += _apply(redis, keys, entries)
        if give_way is not None:  # the next round sized to take about ROUND_SECONDS
            per_entry = max((time.monotonic() - started) / len(entries), 1e-6)
            count = min(READ_COUNT, max(ROUND_MIN_COUNT, int(ROUND_SECONDS / per_entry)))
    _forget_idle_consumers(redis, keys)
    return applied


def _read_own(redis, keys: _Keys, consumer: str, count: int) -> list:
    """This consumer's own pending entries (read by a drain of this worker that died)."""
    answer = redis.xreadgroup(GROUP, consumer, {keys.stream: "0"}, count=count)
    return [(entry_id, fields) for entry_id, fields in (answer[0][1] if answer else []) if fields]


def _forget_idle_consumers(redis, keys: _Keys) -> None:
    """Remove the group's consumers that own no entry (a consumer that reads again is created
    anew by its read): the names of killed drains do not pile up. In one script: a consumer
    that read between a look and a delete would lose its pending entries with it."""
    redis.eval(_FORGET, 1, keys.stream, GROUP)


_FORGET = """
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #consumer, 2 do
    if consumer[i] == 'name' then name = consumer[i + 1] end
    if consumer[i] == 'pending' then pending = consumer[i + 1] end
  end
  if pending == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name) end
end
return 0
"""


def _reclaim(redis, keys: _Keys, consumer: str, count: int) -> list:
    """Entries a dead drain read and never acknowledged (pending for CLAIM_IDLE_MS)."""
    _next, entries, *_deleted = redis.xautoclaim(
        keys.stream, GROUP, consumer, CLAIM_IDLE_MS, start_id="0-0", count=count
    )
    return [(entry_id, fields) for entry_id, fields in entries if fields]


def _read_new(redis, keys: _Keys, consumer: str, count: int) -> list:
    answer = redis.xreadgroup(GROUP, consumer, {keys.stream: ">"}, count=count)
    return answer[0][1] if answer else []


def _outage(exc: Exception) -> bool:
    """A failure of the database itself (not of these entries): try again later."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _apply(redis, keys: _Keys, entries: list) -> int:
    """Apply entries in one transaction, then acknowledge them; the number applied.

    When the database is down, raise: the entries stay pending (re-claimed later) and RQ
    retries the job. When the round fails otherwise, apply its entries one by one, so that one
    bad entry cannot hold back the others; one that keeps failing goes to the dead stream, as
    do entries of another deployment and of sessions that do not exist (kept there, logged,
    never silently dropped)."""
    foreign = [entry for entry in entries if _is_foreign(entry[1])]
    if foreign:
        log.error("%d ingest entries of another deployment share this Redis", len(foreign))
        _set_aside(redis, keys, foreign)
        entries = [e for e in entries if e not in foreign]
        if not entries:
            return 0
    try:
        missing = _commit([fields for _id, fields in entries])
    except Exception as exc:
        if _outage(exc):
            raise
        if len(entries) > 1:
            log.warning("a round of %d ingest entries failed; applying one by one", len(entries))
            return sum(_apply(redis, keys, [entry]) for entry in entries)
        [(entry_id, _fields)] = entries
        if _deliveries(redis, keys, entry_id) < POISON_DELIVERIES:
            log.exception("ingest entry %s failed; it will be tried again", entry_id)
            return 0
        log.exception("ingest entry %s keeps failing: moved to %s", entry_id, keys.dead)
        _set_aside(redis, keys, entries)
        return 0
    if missing:
        log.error("%d ingest entries name view sessions that do not exist", len(missing))
    aside = [entries[i] for i in missing]
    _set_aside(redis, keys, aside)
    applied = [entry_id for i, (entry_id, _f) in enumerate(entries) if i not in set(missing)]
    _acknowledge(redis, keys, applied)
    return len(applied)


def _is_foreign(fields: dict[bytes, bytes]) -> bool:
    """Whether an entry was queued by another deployment (see deployment())."""
    try:
        body = json.loads(fields[b"b"])
    except (KeyError, ValueError):
        return False  # unreadable: applying it fails, and it is set aside as such
    return isinstance(body, dict) and body.get("d") != deployment()


def _commit(entries: list[dict[bytes, bytes]]) -> list[int]:
    """Apply and commit; the positions of the entries whose session does not exist."""
    items = [_item(fields) for fields in entries]
    positions = [i for i, item in enumerate(items) if not isinstance(item, NewEvent)]
    batches = [items[i] for i in positions]
    extra = [item for item in items if isinstance(item, NewEvent)]
    gone: set = set()
    results = with_retries(lambda: apply_batches(batches, gone=gone, extra=extra))
    if gone:  # a tombstone Redis missed (see portal.tracking.revocations): write it again
        revocations.mark_gone(gone)
    return [positions[i] for i, result in enumerate(results) if result is None]


def _set_aside(redis, keys: _Keys, entries: list) -> None:
    """Move entries to the dead stream (acknowledged in the live one)."""
    if not entries:
        return
    with redis.pipeline(transaction=True) as pipe:
        for _id, fields in entries:
            pipe.xadd(keys.dead, fields)
        pipe.xack(keys.stream, GROUP, *[entry_id for entry_id, _ in entries])
        pipe.xdel(keys.stream, *[entry_id for entry_id, _ in entries])
        pipe.execute()


def _deliveries(redis, keys: _Keys, entry_id) -> int:
    pending = redis.xpending_range(keys.stream, GROUP, entry_id, entry_id, 1)
    return pending[0]["times_delivered"] if pending else 0


def _acknowledge(redis, keys: _Keys, entry_ids: list) -> None:
    if not entry_ids:
        return
    with redis.pipeline(transaction=False) as pipe:
        pipe.xack(keys.stream, GROUP, *entry_ids)
        pipe.xdel(keys.stream, *entry_ids)
        pipe.execute()


def backlog() -> int:
    """Entries not applied yet (queued, or read and not yet acknowledged)."""
    return int(jobs.redis_connection().xlen(_Keys.now().stream))


@dataclass(frozen=True)
class StreamState:
    """The stream as an operator watches it (GET /metrics)."""

    length: int  # entries not applied yet: queued, or read and not acknowledged
    pending: int  # read by a drain and not acknowledged yet
    oldest_age_seconds: float  # of the oldest entry not applied yet; 0 when there is none
    dead: int  # entries set aside (the dead stream), kept for a person to look at


def stream_state() -> StreamState:
    """The stream's state, in one round trip (and one more for the pending count). The oldest
    entry's age is measured on Redis's clock (its id is the time it was added, TIME the time
    now), so the clocks of app nodes never enter it."""
    redis = jobs.redis_connection()
    keys = _Keys.now()
    with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.stream)
        pipe.xrange(keys.stream, count=1)
        pipe.xlen(keys.dead)
        pipe.time()
        length, first, dead, (seconds, micros) = pipe.execute()
    age = 0.0
    if first:
        added_ms = int(_text(first[0][0]).split("-")[0])
        age = max(0.0, seconds + micros / 1e6 - added_ms / 1000)
    try:
        pending = int((redis.xpending(keys.stream, GROUP) or {}).get("pending") or 0)
    except ResponseError:  # no group yet: nothing was ever read
        pending = 0
    return StreamState(int(length), pending, age, int(dead))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
