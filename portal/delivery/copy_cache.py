"""Resolved customer copies cached in Redis, so a busy link is served without the database.

served_files.resolve() costs a database round trip (two with the pool's pre-ping). With Redis,
what it found for a live link is kept for TTL seconds under the link's id, with the
generations of everything it was built from: the template (its versions, its name), the
customer and the rep (the fields that name the rendered copy), the delivery and its links.
Any ORM change to those rows bumps their generation right after its commit (listeners below),
and one Lua script, one round trip, checks an entry against them, against the delivery's
revocation tombstone (portal.tracking.revocations) and against its expiry, and queues the
`doc.downloaded` event in the same step.

- Revocation and expiry never come from the cache: a tombstoned or expired entry is a miss, and
  the database answers (410), in the same time as for an unknown link (404).
- A change published while a request was between its database read and its cache write may be
  cached with the new generation and the old data: served for at most TTL seconds.
- Changes made without the ORM (bulk UPDATEs) do not bump generations: TTL bounds them too.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.library.models import Template, TemplateVersion
from portal.library.rendering.variables import CUSTOMER_FIELDS, REP_FIELDS
from portal.tracking import ingest_queue, revocations
from portal.tracking.models import EventType, Link

log = logging.getLogger(__name__)

TTL = 60  # seconds a cached copy is trusted without its generations moving
GEN_TTL = 24 * 3600
_CHANGED = "portal.copy_cache.changed"
# What a copy is built from (not the open bookkeeping: first/last opened, seen version).
DELIVERY_FIELDS = (
    "customer_id",
    "template_id",
    "version_id",
    "policy",
    "sender_id",
    "allow_download",
    "watermark",
    "passcode_hash",
    "created_at",
    "expires_at",
    "revoked_at",
)

# An entry is a header line the script reads without decoding JSON (cjson costs more than all of
# the script's commands together), then the JSON the app reads:
#   "<gone> <exp ms> <t> <c> <u> <d> <gen t> <gen c> <gen u> <gen d> <download> <version> <pc>
#    \n{...}"
# (ids of the template, customer, rep and delivery; download 1 or 0; pc 1 when the delivery has a
# passcode: its download is recorded by the caller, once the browser proved it entered it)
# KEYS: the entry. ARGV: key prefix, the event's opening ("" for none: the script closes it with
# the customer, delivery and version it read), the drain flag's TTL (ms), now (epoch ms).
# Returns {0} (miss: ask the database) or {1, entry, flag set: 1|0}.
_LOOKUP = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local gone, exp, t, c, u, d, g1, g2, g3, g4, dl, v, pc = string.match(raw,
  '^(%S+) (%d+) (%d+) (%d+) (%d+) (%d+) (%S+) (%S+) (%S+) (%S+) ([01]) (%d+) ([01])\\n')
if not gone then return {0} end
local p = ARGV[1]
if redis.call('EXISTS', p .. ':gone:' .. gone) == 1 then return {0} end
if exp ~= '0' and tonumber(exp) <= tonumber(ARGV[4]) then return {0} end
local gens = redis.call('MGET', p .. ':gen:t:' .. t, p .. ':gen:c:' .. c,
  p .. ':gen:u:' .. u, p .. ':gen:d:' .. d)
if (gens[1] or '0') ~= g1 or (gens[2] or '0') ~= g2 or (gens[3] or '0') ~= g3
  or (gens[4] or '0') ~= g4 then return {0} end
local flag = 0
if ARGV[2] ~= '' and dl == '1' and pc == '0' then
  redis.call('XADD', p .. ':stream', '*', 'b', ARGV[2] .. '"customer_id":' .. c ..
    ',"delivery_id":' .. d .. ',"properties":{"version":' .. v .. '}}}')
  if redis.call('SET', p .. ':drain', '1', 'NX', 'PX', ARGV[3]) then flag = 1 end
end
return {1, raw, flag}
"""
_SCRIPT = "portal.copy_cache.script"


def enabled() -> bool:
    from portal.tracking.ingest_path import queued

    return queued()


def _script(redis):
    cached = current_app.extensions.get(_SCRIPT)
    if cached is None or cached[0] is not redis:
        cached = (redis, redis.register_script(_LOOKUP))
        current_app.extensions[_SCRIPT] = cached
    return cached[1]


def _entry_key(link_id: int) -> str:
    return f"{revocations.key_prefix()}:doc:{link_id}"


def _gen_keys(ids: dict[str, int]) -> list[str]:
    prefix = revocations.key_prefix()
    return [f"{prefix}:gen:{kind}:{ids[kind]}" for kind in ("t", "c", "u", "d")]


def _epoch_ms(moment) -> int:
    return round(moment.timestamp() * 1000) if moment is not None else 0


def lookup(link_id: int, *, record: bool) -> tuple[dict[str, Any], bool] | None:
    """The cached copy of a live link, and whether the download event was queued with it (when
    record); None on a miss."""
    now = _epoch_ms(utcnow())
    opening = ""
    if record:
        # The stream entry as portal.tracking.ingest_queue.enqueue_event writes it, up to the
        # fields the script fills in from the entry.
        opening = (
            f'{{"d":{json.dumps(ingest_queue.deployment())},"e":{{'
            f'"type":"{EventType.DOC_DOWNLOADED.value}","occurred_at":{now},'
            f'"idempotency_key":"q:{uuid.uuid4().hex}",'
        )
    answer = _script(jobs.redis_connection())(
        keys=[_entry_key(link_id)],
        args=[revocations.key_prefix(), opening, ingest_queue.FLAG_TTL_MS, now],
    )
    if answer[0] != 1:
        return None
    if answer[2] == 1:
        ingest_queue.queue_drain()
    entry = json.loads(answer[1].partition(b"\n")[2])
    return entry, bool(record and entry["dl"] and not entry["pc"])


def store(link_id: int, row: Any, copy: Any) -> None:
    """Cache what the database said about a live link, with the generations read now."""
    redis = jobs.redis_connection()
    ids = {"t": row.template_id, "c": row.customer_id, "u": row.sender_id, "d": row.delivery_id}
    gens = [(g or b"0").decode() for g in redis.mget(_gen_keys(ids))]
    expiry = min((m for m in (row.expires_at, row.link_expires_at) if m is not None), default=None)
    gone = f"{row.delivery_id}:{_epoch_ms(row.created_at)}"
    entry = {
        **ids,
        "g": gens,
        "gone": gone,
        "exp": _epoch_ms(expiry),
        "dl": bool(row.allow_download),
        "wm": bool(copy.watermark),
        "pc": copy.passcode,
        "n": row.template_name,
        "v": [
            copy.version.number,
            copy.version.sha256,
            copy.version.source_type,
            copy.version.storage_key,
        ],
        "vars": copy.variables,
    }
    header = " ".join(
        str(part)
        for part in (
            gone,
            entry["exp"],
            *(ids[kind] for kind in ("t", "c", "u", "d")),
            *gens,
            int(entry["dl"]),
            copy.version.number,
            int(bool(copy.passcode)),
        )
    )
    redis.set(_entry_key(link_id), header + "\n" + json.dumps(entry, ensure_ascii=False), ex=TTL)


def version_of(entry: dict[str, Any]) -> SimpleNamespace:
    number, sha256, source_type, storage_key = entry["v"]
    return SimpleNamespace(
        number=number, sha256=sha256, source_type=source_type, storage_key=storage_key
    )


# -- generations: bumped after the commit of any ORM change to what a copy is built from ------


def _changed(obj: object, fields: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    changed: set[tuple[str, int]] = session.info.setdefault(_CHANGED, set())
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, TemplateVersion) and obj.template_id is not None:
            changed.add(("t", obj.template_id))
        elif isinstance(obj, Template) and obj.id is not None:
            changed.add(("t", obj.id))
        elif isinstance(obj, Customer) and obj.id is not None:
            if obj in session.deleted or _changed(obj, CUSTOMER_FIELDS):
                changed.add(("c", obj.id))
        elif isinstance(obj, User) and obj.id is not None:
            if obj in session.deleted or _changed(obj, REP_FIELDS):
                changed.add(("u", obj.id))
        elif isinstance(obj, Delivery) and obj.id is not None and obj not in session.new:
            if obj in session.deleted or _changed(obj, DELIVERY_FIELDS):
                changed.add(("d", obj.id))
        elif isinstance(obj, Link) and obj.delivery_id is not None and obj not in session.new:
            changed.add(("d", obj.delivery_id))


@event.listens_for(Session, "after_commit")
def _bump(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    if not changed:
        return
    try:
        redis = jobs.redis_connection()
    except RuntimeError:  # outside an app context: nothing is cached there either
        return
    if redis is None:
        return
    prefix = revocations.key_prefix()
    try:
        with redis.pipeline(transaction=False) as pipe:
            for kind, object_id in sorted(changed):
                pipe.incr(f"{prefix}:gen:{kind}:{object_id}")
                pipe.expire(f"{prefix}:gen:{kind}:{object_id}", GEN_TTL)
            pipe.execute()
    except Exception:  # the cache entries expire on their own (TTL)
        log.exception("could not bump the generations of %s", sorted(changed))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)
