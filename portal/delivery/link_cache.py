"""Resolved doc links kept in each process, never served more than one second after a change
to them commits (issue 16's rule).

GET /d/<token>/download and the page images resolve the same few links over and over. Each
process keeps what the database said about a live link (portal.delivery.served_files), keyed by
the link id of a token whose signature was verified (never by the raw token or any other input),
in an LRU of MAX_ENTRIES. The rule it keeps: no process serves a revoked or expired link more
than TTL (1 s) after the revoke commits, even if it never hears of the revocation.

- The generation (portal.delivery.models.CopyGeneration): every transaction that changes what a
  copy is built from (a link or a delivery's send fields, a template and its versions, the
  customer's and the rep's fields that name the copy; through the ORM, a bulk UPDATE or DELETE,
  or changed_in_bulk) bumps one counter row as its last statement, so the count moves exactly
  when the change commits. A process serves its entries only within TTL of a reading of that
  count (one small query, at most once a second, by one thread); when the count moved, it
  forgets everything first. A change committed after a reading is seen by the next one, which
  comes before anything is served past that reading + TTL: the bound, with nothing to lose.
  Before, each entry lived TTL and was read again: at 1,000 downloads a second over 100 links,
  one download in five or so paid a seven-table query (P1).
- An entry is refused when the read that filled it began before the last emptying: its
  snapshot may predate the change that caused it. A read begins when the session's transaction
  began (SQLite's snapshot dates from then; PostgreSQL's is newer), or at the lookup if earlier.
- Expiry is checked on every hit against the earliest expiry the entry was built from (the
  link's, its delivery's, its grant's and the grant's delivery's): never served past it.
- MAX_AGE: an entry is read again after that long whatever the counter says, so a change made
  behind the ORM's back (raw SQL) is still bounded, if more loosely.
- Invalidation, to make it faster than the reading: such a commit also empties this process's
  cache right away (after its flush, so a request of the same process already sees it) and,
  with Redis, is published on a channel after the commit; every process's listener thread
  empties its own cache when a message arrives, and whenever its subscription is (re)confirmed.
- Without a counter reader (LinkCache(generation=None), the unit tests' default) every entry
  lives TTL from its read, the bound by itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Engine, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.delivery.models import CopyGeneration, Delivery
from portal.extensions import db
from portal.library.models import Template, TemplateVersion
from portal.library.rendering.variables import CUSTOMER_FIELDS, REP_FIELDS
from portal.tracking import revocations
from portal.tracking.models import Link

log = logging.getLogger(__name__)

TTL = 1.0  # seconds: the bound, and never more
MAX_AGE = 60.0  # seconds: an entry is read again after this long, whatever the counter says
MAX_ENTRIES = 4096
RESUBSCRIBE_PAUSE = 0.5  # seconds between attempts while Redis is unreachable
# The listener reads the counter ahead of need (every ~KEEP_AHEAD s, looking every KEEP_EVERY
# s): requests then rarely pay a reading, and the generation's key that nginx's download gate
# replays under (portal.delivery.download_gate) never lapses while the process is up.
KEEP_AHEAD = 0.5
KEEP_EVERY = 0.2
_EXTENSION = "portal.link_cache"
_creating = threading.Lock()
_BEGAN = "portal.link_cache.began"
_CHANGED = "portal.link_cache.changed"
# What a copy is built from (not the open bookkeeping: first/last opened, seen version).
DELIVERY_FIELDS = (
    "customer_id",
    "template_id",
    "version_id",
    "policy",
    "sender_id",
    "allow_download",
    "created_at",
    "expires_at",
    "revoked_at",
)


@dataclass(frozen=True)
class Ticket:
    """Taken before a read: when it began (the cache's clock) and the epoch then."""

    began: float
    epoch: int


@dataclass(frozen=True)
class Entry:
    value: Any
    fresh_until: float  # the cache's clock: began + TTL (no counter) or + MAX_AGE
    expires_at: datetime | None  # the earliest expiry it was built from


class LinkCache:
    """An LRU of resolved links. With `generation` (reads the shared change counter), entries
    are served only within `ttl` of a reading that found the counter where it was when they
    were stored; without, each entry is trusted for `ttl` from its read. Never past the expiry
    an entry was built from.

    `clock` is monotonic seconds (injected by tests); `began` stamps given to ticket() must come
    from the same clock."""

    def __init__(
        self,
        *,
        generation: Callable[[], int] | None = None,
        ttl: float = TTL,
        max_age: float = MAX_AGE,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < ttl <= TTL:
            raise ValueError(f"a link cache TTL is at most {TTL} s")
        self.ttl = ttl
        self.max_age = max_age if generation is not None else ttl
        self.max_entries = max_entries
        self.clock = clock
        self._generation = generation
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one thread reads the counter; the others miss
        self._epoch = 0
        self._emptied_at = float("-inf")  # when the entries were last forgotten (its clock)
        self._known: int | None = None  # the counter at the last reading
        self._confirmed_until = float("-inf")  # entries are served until then
        self.listening = True  # with Redis: whether the listener's subscription is confirmed
        self.subscribed = threading.Event()  # set with `listening` by the listener
        self.subscriptions = 0  # how often the listener's subscription was confirmed
        self.closed = False  # its listener thread stops (close())
        self.listener: threading.Thread | None = None  # with Redis (cache())
        self.readings = 0  # how often the counter was read (the tests count them)
        self._reading_failed = False

    def ticket(self, began: float | None = None) -> Ticket:
        """Take this before the read whose answer may be stored; `began`: when the read's
        transaction began, if earlier."""
        now = self.clock()
        with self._lock:
            return Ticket(now if began is None else min(now, began), self._epoch)

    def get(self, link_id: int, now: datetime) -> Any | None:
        """The value stored for link_id if still fresh and not expired at `now`, else None."""
        if not self._confirmed():
            return None
        with self._lock:
            entry = self._entries.get(link_id)
            if entry is None:
                return None
            if self.clock() >= entry.fresh_until or (
                entry.expires_at is not None and entry.expires_at <= now
            ):
                del self._entries[link_id]
                return None
            self._entries.move_to_end(link_id)
            return entry.value

    def put(self, link_id: int, ticket: Ticket, value: Any, expires_at: datetime | None) -> bool:
        """Store what a read begun at `ticket` found; refused when the cache was emptied since
        the read began, or when it is already stale."""
        fresh_until = ticket.began + self.max_age
        with self._lock:
            if (
                ticket.epoch != self._epoch
                or ticket.began < self._emptied_at
                or not self._serving()
                or self.clock() >= fresh_until
            ):
                return False
            self._entries[link_id] = Entry(value, fresh_until, expires_at)
            self._entries.move_to_end(link_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def clear(self) -> None:
        with self._lock:
            self._empty(self.clock())

    def fresh_until(self, link_id: int) -> float | None:
        """When the entry for link_id stops being served unless the counter is read again and
        has not moved (the cache's clock); None if absent."""
        with self._lock:
            entry = self._entries.get(link_id)
            if entry is None:
                return None
            if self._generation is None:
                return entry.fresh_until
            return min(entry.fresh_until, self._confirmed_until)

    def trusted_for(self) -> float:
        """How many more seconds what this cache holds may be served without reading the
        counter again (0: it must be read first, or there is no counter). nginx's download
        gate replays an answer no longer than this (portal.delivery.download_gate)."""
        if self._generation is None:
            return 0.0
        return max(0.0, self._confirmed_until - self.clock())

    def keep_confirmed(self, ahead: float) -> None:
        """Read the counter now if less than `ahead` seconds of trust are left (the listener
        thread calls it, so that requests need not)."""
        if self._generation is not None and self.trusted_for() < ahead:
            self._confirmed(now=True)

    @property
    def generation(self) -> int | None:
        """The counter's value at the last reading (None before the first)."""
        return self._known

    def trusted_epoch(self) -> int | None:
        """The epoch under which what is read from now on is current, after reading the counter
        now (or waiting for a reading another thread began after this call): every change
        committed before the call is seen. None when the counter cannot be read or there is
        none. nginx's download gate takes it before resolving a copy and decides only if the
        epoch is still the same afterwards (generation_since): a copy read under an older
        generation is never replayed."""
        if self._generation is None:
            return None
        # A new process's listener empties the cache once its subscription is confirmed: wait
        # for that (once per process), or the epoch taken here would not last. A subscription
        # lost later is not waited for: no decision until it is back.
        if not self.listening and (self.subscriptions or not self.subscribed.wait(self.ttl)):
            return None
        if not self._confirmed(now=True, wait=True):
            return None
        with self._lock:
            return self._epoch if self._confirmed_until > self.clock() else None

    def generation_since(self, epoch: int) -> int | None:
        """The counter's value that `epoch` (trusted_epoch) was read under, if the entries were
        not forgotten since and are still trusted now; else None. One look, under the lock: the
        value and the epoch only move together."""
        with self._lock:
            if self._generation is None or epoch != self._epoch:
                return None
            if self._confirmed_until <= self.clock():
                return None
            return self._known

    def __len__(self) -> int:
        return len(self._entries)

    def _serving(self) -> bool:
        return self.listening or self._generation is not None

    def _empty(self, at: float) -> None:
        self._entries.clear()
        self._epoch += 1
        self._emptied_at = max(self._emptied_at, at)

    def _confirmed(self, *, now: bool = False, wait: bool = False) -> bool:
        """Whether entries may be served now: within TTL of a reading of the counter (reading it
        when due, or at once with `now`). False while another thread reads it (unless `wait`:
        then that thread's reading counts if it began after this call), or when it cannot be
        read."""
        if self._generation is None:
            return self.listening
        asked = self.clock()
        if not now and asked < self._confirmed_until:
            return True
        if not self._reading.acquire(blocking=False):
            if not wait or not self._reading.acquire(timeout=self.ttl):
                return False
            if self._confirmed_until - self.ttl >= asked:  # read meanwhile, after we asked
                self._reading.release()
                return self.clock() < self._confirmed_until
        try:
            began = self.clock()
            try:
                generation = self._generation()
            except Exception:
                # Once per outage, not per attempt: requests and the listener (every 0.2 s) keep
                # trying, and the database's own outage is logged by portal.outage_log.
                if not self._reading_failed:
                    log.warning("link cache: the change counter could not be read", exc_info=True)
                self._reading_failed = True
                return False
            if self._reading_failed:
                log.warning("link cache: the change counter is read again")
                self._reading_failed = False
            with self._lock:
                self.readings += 1
                if generation != self._known:
                    self._empty(began)
                    self._known = generation
                self._confirmed_until = began + self.ttl
                return self.clock() < self._confirmed_until
        finally:
            self._reading.release()


# -- the app's cache and its listener ------------------------------------------------------------


def channel() -> str:
    """The Redis channel of invalidations (under the ingest key prefix, so two deployments that
    share a Redis database do not empty each other's caches)."""
    return f"{revocations.key_prefix()}:links"


def cache() -> LinkCache:
    """This process's cache for the current app (its listener started, with Redis)."""
    found = current_app.extensions.get(_EXTENSION)
    if found is not None and found[0] == os.getpid():
        return found[1]
    with _creating:  # one cache and one listener, however many threads ask at once
        found = current_app.extensions.get(_EXTENSION)
        if found is not None and found[0] == os.getpid():
            return found[1]
        # (a pid of another process: forked by gunicorn's preload, it starts afresh)
        redis_url = current_app.config.get("REDIS_URL")
        confirm = None
        if redis_url:
            from portal import jobs

            prefix = revocations.key_prefix()
            confirm = _confirmer(
                jobs.redis_connection(), lambda value: revocations.generation_key(value, prefix)
            )
        link_cache = LinkCache(generation=_counter_reader(db.engine, confirm))
        if redis_url:
            link_cache.listening = False  # until the subscription is confirmed
            link_cache.listener = _Listener(link_cache, redis_url, channel())
            link_cache.listener.start()
        current_app.extensions[_EXTENSION] = (os.getpid(), link_cache)
        return link_cache


def close(app: Any) -> None:
    """Stop this process's cache of `app` and its listener thread (an app that is done: a
    test's; the thread otherwise lives until the cache is garbage collected)."""
    found = app.extensions.pop(_EXTENSION, None)
    if found is not None:
        found[1].closed = True


class _Listener(threading.Thread):
    """Empties the cache on every message of the channel and on every (re)subscription; marks it
    not listening while the subscription is down. Ends when the cache is garbage collected."""

    def __init__(self, link_cache: LinkCache, redis_url: str, channel_name: str) -> None:
        super().__init__(name="portal-link-cache", daemon=True)
        self._cache = weakref.ref(link_cache)
        self._redis_url = redis_url
        self._channel = channel_name

    def run(self) -> None:
        from redis import Redis

        # Named, so an operator (or a test) can tell this process's subscription apart.
        name = f"portal-link-cache:{os.getpid()}:{self._channel}"
        redis = Redis.from_url(self._redis_url, client_name=name)
        while self._open():
            pubsub = redis.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while self._open():  # no strong reference kept while waiting
                    message = pubsub.get_message(timeout=KEEP_EVERY)
                    if message is not None:
                        # A subscribe confirmation also follows a reconnection redis-py made on
                        # its own: what was published meanwhile is lost, so empty it then too.
                        self._emptied(listening=True if message["type"] == "subscribe" else None)
                    self._keep_confirmed()
            except Exception:
                self._emptied(listening=False)
                log.warning("link cache: subscription to %s lost; retrying", self._channel)
                time.sleep(RESUBSCRIBE_PAUSE)
            finally:
                pubsub.close()
        redis.close()

    def _open(self) -> bool:
        link_cache = self._cache()
        return link_cache is not None and not link_cache.closed

    def _keep_confirmed(self) -> None:
        link_cache = self._cache()
        if link_cache is not None and not link_cache.closed:  # closed: its database may be gone
            link_cache.keep_confirmed(KEEP_AHEAD)

    def _emptied(self, *, listening: bool | None) -> None:
        link_cache = self._cache()
        if link_cache is not None:
            if listening is False:
                link_cache.listening = False
                link_cache.subscribed.clear()
            link_cache.clear()
            if listening is True:
                link_cache.listening = True
                link_cache.subscriptions += 1
                link_cache.subscribed.set()


# -- the change counter ---------------------------------------------------------------------------

_COUNTER = CopyGeneration.__table__
_COUNTER_ROW = 1


def _counter_reader(
    engine: Engine, confirm: Callable[[int, float], None] | None = None
) -> Callable[[], int]:
    """Reads the counter on a connection of its own: a fresh snapshot, never the request's
    transaction (whose snapshot may be older than the reading's clock says); then confirm(value,
    when the reading began), if given."""
    statement = select(_COUNTER.c.value).where(_COUNTER.c.id == _COUNTER_ROW)

    def read() -> int:
        began = time.monotonic()
        with engine.connect() as connection:
            value = connection.execute(statement).scalar() or 0
        if confirm is not None:
            confirm(value, began)
        return value

    return read


def _confirmer(redis: Any, key_of: Callable[[int], str]) -> Callable[[int, float], None]:
    """Tells nginx's download gate what a reading found: the generation's key (key_of) set in
    Redis until TTL after the reading began, never longer. A change committed after the reading
    moves the counter; no reading confirms the old generation again, and its key is gone within
    TTL: the gate's replays keep the link cache's bound without a message that could be lost.
    (No app context needed: the listener thread reads too.)"""

    def confirm(value: int, began: float) -> None:
        left_ms = int((began + TTL - time.monotonic()) * 1000)
        if left_ms < 50:
            return
        try:
            redis.set(key_of(value), 1, px=left_ms)
        except Exception:  # the gate then lets the app answer: nothing is served stale
            log.warning("link cache: could not confirm generation %s in Redis", value)

    return confirm


def _bump(session: Session) -> None:
    """Count one more change, in the session's transaction (an upsert: the row may have been
    deleted, as the tests' table emptying does)."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases
        raise RuntimeError(f"no upsert for {dialect}")
    statement = insert(_COUNTER).values(id=_COUNTER_ROW, value=1)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[_COUNTER.c.id], set_={"value": _COUNTER.c.value + 1}
        )
    )


# -- invalidation: any ORM change to what a copy is built from -------------------------------------


def _changed(obj: object, fields: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _concerns_copies(session: Session, obj: object) -> bool:
    if isinstance(obj, Template | TemplateVersion | Link):
        return obj not in session.new
    if isinstance(obj, Customer):
        return obj in session.deleted or _changed(obj, CUSTOMER_FIELDS)
    if isinstance(obj, User):
        return obj in session.deleted or _changed(obj, REP_FIELDS)
    if isinstance(obj, Delivery):
        return obj not in session.new and (obj in session.deleted or _changed(obj, DELIVERY_FIELDS))
    return False


def _local_cache() -> LinkCache | None:
    try:
        found = current_app.extensions.get(_EXTENSION)
    except RuntimeError:  # outside an app context: nothing is cached there either
        return None
    return found[1] if found is not None and found[0] == os.getpid() else None


@event.listens_for(Session, "after_begin")
def _stamp(session: Session, _transaction, _connection) -> None:
    session.info[_BEGAN] = time.monotonic()


def transaction_began(session: Session) -> float | None:
    """When the session's transaction began (time.monotonic), None when none is open."""
    return session.info.get(_BEGAN) if session.in_transaction() else None


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    objects = list(session.dirty) + list(session.deleted)
    if any(_concerns_copies(session, obj) for obj in objects):
        session.info[_CHANGED] = True
        link_cache = _local_cache()
        if link_cache is not None:
            link_cache.clear()


def changed_in_bulk(session: Session) -> None:
    """For a change made without the ORM (bulk DELETE or UPDATE) to what copies are built from:
    empty this process's cache now and every process's after the commit."""
    session.info[_CHANGED] = True
    link_cache = _local_cache()
    if link_cache is not None:
        link_cache.clear()


# The columns of a bulk UPDATE that concern copies, per class (None: any column does).
_BULK_FIELDS: dict[type, tuple[str, ...] | None] = {
    Link: None,
    Template: None,
    TemplateVersion: None,
    Customer: CUSTOMER_FIELDS,
    User: REP_FIELDS,
    Delivery: DELIVERY_FIELDS,
}


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> None:
    """A bulk UPDATE or DELETE through the session (session.execute(update(Delivery)...)): the
    flush events never see it."""
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if mapper.class_ not in _BULK_FIELDS:
            continue
        fields = _BULK_FIELDS[mapper.class_]
        values = getattr(state.statement, "_values", None)
        if state.is_delete or fields is None or not values:
            changed_in_bulk(state.session)
            return
        names = {getattr(key, "key", key) for key in values}
        if names & set(fields):
            changed_in_bulk(state.session)
            return


@event.listens_for(Session, "before_commit")
def _count(session: Session) -> None:
    """The counter's bump, as the transaction's last statement (after the final flush): its row
    lock is held only while the commit itself runs, so no other statement waits behind it."""
    if session.info.get(_CHANGED) is None and not (session.new or session.dirty or session.deleted):
        return
    session.flush()
    if session.info.get(_CHANGED) and session.in_transaction():
        _bump(session)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    link_cache = _local_cache()
    if link_cache is not None:
        link_cache.clear()  # a read begun between the flush and the commit
    try:
        redis_url = current_app.config.get("REDIS_URL")
    except RuntimeError:
        return
    if not redis_url:
        return
    from portal import jobs

    try:
        jobs.redis_connection().publish(channel(), "1")
    except Exception:  # every cache forgets it within TTL anyway
        log.exception("could not publish a link cache invalidation")


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)
