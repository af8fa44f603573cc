"""Read-time reports from the viewer: checked, capped at the wall clock, stored once.

The viewer script posts batches to /t/r (see portal.routes.tracking):

    {"s": "<ingest token>", "reports": [
        {"k": "<client uuid>", "type": "page.viewed", "page": 2, "ms": 10000,
         "at": <client epoch ms>, "final": false}, ...]}

A batch is validated as a whole before anything is written (portal.tracking.ingest_checks): a
malformed or absurd batch is refused with nothing stored. Then one of two paths, chosen in
portal.tracking.ingest_path (this module is the direct applier; the queue calls it):

- direct (no Redis, the embedded default): the batch is applied in one transaction and committed
  before the answer (a 2xx means committed); the session, its delivery and links are read live.
- queued (PORTAL_REDIS_URL): the batch is appended to a Redis stream and acknowledged; an RQ job
  applies what the stream holds, many batches per transaction (portal.tracking.ingest_queue).

Both apply batches with apply_batches() below: the session rows are locked, the new reports are
credited against each session's wall-clock budget, stored through the one event path
(portal.tracking.events.record_many, one call for all the batches: scoring and task handlers run
set-based in the same transaction), and each session's `doc.read` summary row is created or
updated. Applying is idempotent: a report whose key is stored already is a duplicate, credits
nothing and leaves the summary alone, so a batch applied twice (a re-claimed queue entry) counts
once.

The budget: the session total never exceeds the wall-clock time since the session began, and
each report is credited min(claim, MAX_REPORT_MS, what is left of the budget), in the order sent:
Event.duration_ms is what was credited, `properties.claimed_ms` what the client said. Besides:

- a report with its client timestamp (`at`, as the viewer sends them) may claim no more than the
  client's own clock moved since the session's previous report (its `at`): reports are made in
  order, one interval after the other, so the bound holds however late a report arrives (held
  back by an outage, retried, kept by a closed tab and sent on the next open). A report that
  arrives late is credited in full; a burst of reports made within a second claims a second.
- a batch without client timestamps may be credited no more than the wall-clock time since the
  session's previous batch (the times are when the server received them), plus a small carry
  for network jitter: what the previous batch left unspent, at most CARRY_MAX_MS, so it cannot
  grow by sending many batches.

Parallel sessions of one delivery (tabs, or a script opening it ten times) share one wall clock:
Delivery.read_clock_at is how far the delivery's read time has been credited (_Clock), and no
batch may credit past it by more than the wall clock (plus CARRY_MAX_MS of jitter). Only sessions
the viewer confirmed (portal.delivery.open_confirmation) report: a fetched page nobody was seen
reading (a link preview, a scanner) is refused (409 not_confirmed; dropped on the queued path).

The doc.read row (one per session, key "s<id>:doc.read") holds the session total in duration_ms
and in its properties `pages` {"<page>": ms}, `sections` {"<section>": ms} (when any),
`carry_ms` (the budget left for the next batch), `client_at` (the newest client timestamp
credited) and `offset_ms` (the smallest lag seen between a batch's newest client timestamp and
its arrival: the client clock's offset, so that a late report's time is laid on the delivery's
read clock where it was read, not when it arrived).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, and_, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.tracking.events import NewEvent, record_many
from portal.tracking.ingest_checks import (
    ABSURD_MS,
    CLIENT_TYPES,
    KEY_PATTERN,
    MAX_BODY_BYTES,
    MAX_EPOCH_MS,
    MAX_REPORTS,
    MAX_SECTION_LENGTH,
    UNKNOWN_PAGE_COUNT_MAX,
    IngestBusy,
    InvalidReport,
    MalformedBatch,
    Report,
    SessionGone,
    SessionNotConfirmed,
    SessionNotFound,
    check_live,
    check_pages,
    claims,
    parse_body,
    token_of,
    validate,
)
from portal.tracking.models import Event, EventType, Link, LinkPurpose, ViewSession
from portal.tracking.sessions import IngestClaims

__all__ = [
    "ABSURD_MS",
    "CARRY_MAX_MS",
    "CLIENT_TYPES",
    "KEY_PATTERN",
    "MAX_BODY_BYTES",
    "MAX_EPOCH_MS",
    "MAX_REPORTS",
    "MAX_REPORT_MS",
    "MAX_SECTION_LENGTH",
    "UNKNOWN_PAGE_COUNT_MAX",
    "Batch",
    "IngestBusy",
    "IngestResult",
    "InvalidReport",
    "MalformedBatch",
    "Report",
    "SessionGone",
    "SessionNotConfirmed",
    "SessionNotFound",
    "apply_batches",
    "apply_checked",
    "clock",
    "ingest_batch",
    "parse_body",
    "token_of",
    "validate",
]

log = logging.getLogger(__name__)

MAX_REPORT_MS = 600_000  # one report never credits more than 10 minutes
CARRY_MAX_MS = 1_500  # unspent budget one batch may pass to the next (network jitter)
ATTEMPTS = 3  # a batch that lost a race (duplicate key, concurrent batch) is retried
KEYS_PER_QUERY = 5_000  # idempotency keys looked up per statement


class _Conflict(Exception):
    """Another batch of the session committed between our read and our write."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int  # reports stored by this batch
    duplicates: int  # reports dropped as already stored (acknowledged all the same)
    credited_ms: int  # read time credited by this batch
    session_credited_ms: int  # the session's total after this batch

    def as_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "credited_ms": self.credited_ms,
        }


@dataclass(frozen=True)
class Batch:
    """One accepted batch of one session, as received."""

    session_id: int
    reports: list[Report]
    received_at: datetime  # the server's clock when the batch arrived: what the budget counts
    page_count: int | None = None  # the pages of the copy shown, when the token says


def clock() -> datetime:
    """The server's time; tests freeze it by monkeypatching this function."""
    return utcnow()


# -- the direct path ------------------------------------------------------------------------------


def ingest_batch(token: str, payload: Any, now: datetime | None = None) -> IngestResult:
    """Validate, credit and store one batch in one transaction; the result is committed.

    Raises MalformedBatch (400), SessionNotFound (404), SessionGone (410), PayloadTooLarge
    (413), InvalidReport (422) with nothing stored; IngestBusy (503) if concurrent batches
    kept winning the race (nothing stored either: the client retries).
    """
    now = now or clock()
    reports = validate(token, payload)
    return apply_checked(claims(token), reports, now)


def apply_checked(found: IngestClaims | None, reports: list[Report], now: datetime) -> IngestResult:
    """Store a batch validated already (its reports, its token's claims): see ingest_batch."""
    if found is not None:
        check_live(found, now)
        check_pages(reports, found.page_count)  # page_count None: checked once loaded
    if found is None:
        batch = Batch(-1, reports, now)  # still query: an unknown token costs what a real one does
    else:
        batch = Batch(found.session_id, reports, now, found.page_count)
    [result] = with_retries(lambda: apply_batches([batch], strict=True))
    assert result is not None  # strict: a missing session raised SessionNotFound
    return result


def with_retries(apply):
    """apply() in a transaction, committed; started over when it lost a race with a concurrent
    writer (a duplicate key, the session's budget spent meanwhile). IngestBusy at the end."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = apply()
            jobs.commit()
            return result
        except (IntegrityError, _Conflict):
            # A concurrent batch stored the same keys or spent the budget first: start over,
            # seeing what it committed.
            db.session.rollback()
            if attempt == ATTEMPTS:
                raise IngestBusy("the session is busy; send the batch again") from None
        except BaseException:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


# -- applying batches (both paths) ----------------------------------------------------------------

# The statements, built once: building a statement per request costs more than running it. Core
# tables, no ORM entities: the rows are only read, and written back by id.
_sessions = ViewSession.__table__
_events = Event.__table__
_deliveries = Delivery.__table__
_versions = TemplateVersion.__table__
_links = Link.__table__


def _in_list(column, name: str, item_type) -> dict[str, Any]:
    """`column IN (the list bound as name)` per backend: PostgreSQL gets `= ANY(array)`, one
    parameter and the same SQL text for any length (a long IN list is slow to send and to
    parse, and its text is new every time)."""
    return {
        "postgresql": column == any_(bindparam(name, type_=ARRAY(item_type))),
        "other": column.in_(bindparam(name, expanding=True)),
    }


def _by_dialect(statements: dict[str, Any]) -> Any:
    name = db.engine.dialect.name
    return statements["postgresql" if name == "postgresql" else "other"]


_LOAD_COLUMNS = (
    select(
        _sessions.c.id,
        _sessions.c.customer_id,
        _sessions.c.visitor_id,
        _sessions.c.delivery_id,
        _sessions.c.started_at,
        _sessions.c.last_seen_at,
        _sessions.c.credited_ms,
        _sessions.c.confirmed_at,
        _deliveries.c.created_at.label("delivery_created_at"),
        _deliveries.c.read_clock_at,
        _deliveries.c.revoked_at.label("delivery_revoked_at"),
        _deliveries.c.expires_at.label("delivery_expires_at"),
        _versions.c.page_count,
        _links.c.id.label("link_id"),
        _links.c.revoked_at.label("link_revoked_at"),
        _links.c.expires_at.label("link_expires_at"),
    )
    .select_from(
        _sessions.join(_deliveries, _deliveries.c.id == _sessions.c.delivery_id)
        .outerjoin(
            _versions,
            and_(
                _versions.c.template_id == _deliveries.c.template_id,
                _versions.c.number == _sessions.c.version_number,
            ),
        )
        .outerjoin(
            _links,
            and_(
                _links.c.delivery_id == _deliveries.c.id,
                _links.c.purpose == LinkPurpose.DOC.value,
            ),
        )
    )
    .order_by(_sessions.c.id)  # concurrent appliers lock sessions in one order: no deadlock
    .with_for_update(of=_sessions)  # PostgreSQL: concurrent batches of a session queue up
)
_LOAD = {
    dialect: _LOAD_COLUMNS.where(where)
    for dialect, where in _in_list(_sessions.c.id, "session_ids", Integer).items()
}
_STORED = {
    dialect: select(_events.c.id, _events.c.idempotency_key, _events.c.properties).where(where)
    for dialect, where in _in_list(_events.c.idempotency_key, "keys", String).items()
}
_ADVANCE = (
    update(_sessions)
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.last_seen_at == bindparam("seen_before"),
        _sessions.c.credited_ms == bindparam("credited_before"),
    )
    .values(last_seen_at=bindparam("seen_now"), credited_ms=bindparam("credited_now"))
)
# The delivery's read clock moves forward only if nobody moved it meanwhile (compare-and-set:
# on PostgreSQL a concurrent batch of another session of the delivery waits for the row, then
# matches nothing and is retried; the sessions' FOR UPDATE does not cover the delivery).
# Compare-and-set: `IS NOT DISTINCT FROM` (SQLite: `IS`) matches a clock never set as well.
_ADVANCE_CLOCK = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("delivery_id"),
        _deliveries.c.read_clock_at.is_not_distinct_from(
            bindparam("clock_loaded", type_=_deliveries.c.read_clock_at.type)
        ),
    )
    .values(read_clock_at=bindparam("clock_now"))
)
_UPDATE_SUMMARY = (
    update(_events)
    .where(_events.c.id == bindparam("summary_id"))
    .values(
        duration_ms=bindparam("total_ms"),
        properties=bindparam("summary_properties", type_=_events.c.properties.type),
    )
)


@dataclass
class _Summary:
    id: int
    properties: dict[str, Any]


@dataclass
class _Tally:
    """What the doc.read summary row carries besides the total: credited ms per page and per
    section, and the budget the last batch left unspent (at most CARRY_MAX_MS)."""

    pages: dict[str, int]
    sections: dict[str, int]
    carry_ms: int
    client_at: int | None = None  # the newest client timestamp credited (epoch ms, its clock)
    offset_ms: int | None = None  # arrival minus client time, the smallest seen
    _window: int = field(default=0, repr=False)  # the client time the current moment may claim
    _spent: int = field(default=0, repr=False)  # and what its reports took of it
    _horizon: int | None = field(default=None, repr=False)  # the latest client time believed

    @classmethod
    def of(cls, summary: _Summary | None) -> _Tally:
        props = summary.properties if summary is not None else {}
        carry = min(CARRY_MAX_MS, max(0, int(props.get("carry_ms", 0))))
        client_at, offset = props.get("client_at"), props.get("offset_ms")
        return cls(
            dict(props.get("pages", {})),
            dict(props.get("sections", {})),
            carry,
            int(client_at) if client_at is not None else None,
            int(offset) if offset is not None else None,
        )

    def observe(self, reports: list[Report], now: datetime) -> datetime:
        """Learn the client clock's offset from a timed batch (its newest report was made at
        most the batch's lag before it arrived; the smallest lag seen is the best estimate);
        when, on the server's clock, its reading ended (never after now).

        Once the offset is known, the client's clock may not run ahead of the server's: a
        report stamped later than now (on the client's clock, plus CARRY_MAX_MS of jitter)
        counts as made at that horizon, and teaches the offset nothing. Otherwise a forged
        timestamp far ahead would make room for reading that never happened (the wall clock
        since the session's previous report is what an honest reader can claim)."""
        now_ms = round(now.timestamp() * 1000)
        newest = max(r.at for r in reports if r.at is not None)
        if self.offset_ms is None:
            self._horizon = None
            self.offset_ms = now_ms - newest
        else:
            self._horizon = now_ms - self.offset_ms + CARRY_MAX_MS
            if newest <= now_ms - self.offset_ms:
                self.offset_ms = min(self.offset_ms, now_ms - newest)
            newest = min(newest, self._horizon)
        ended = datetime.fromtimestamp((newest + self.offset_ms) / 1000, now.tzinfo)
        return min(now, ended)

    def allowance(self, report: Report) -> int:
        """What a timed report may claim: how far the client's clock moved from the session's
        previous report to this one (the first is bounded by the session's wall clock alone),
        less what reports of this same moment (pages reported together) took already; a
        report older than the newest credited one claims nothing. Its time is taken no later
        than the batch's horizon (observe)."""
        assert report.at is not None
        at = report.at if self._horizon is None else min(report.at, self._horizon)
        if self.client_at is None or at > self.client_at:
            self._window = MAX_REPORT_MS if self.client_at is None else at - self.client_at
            self._spent = 0
            self.client_at = at
        elif at < self.client_at:
            return 0
        return max(0, self._window - self._spent)

    def spend(self, credit: int) -> None:
        self._spent += credit

    def add(self, report: Report, credit: int) -> None:
        if report.page is not None:
            self.pages[str(report.page)] = self.pages.get(str(report.page), 0) + credit
        if report.section is not None:
            self.sections[report.section] = self.sections.get(report.section, 0) + credit

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"pages": self.pages, "carry_ms": self.carry_ms}
        if self.client_at is not None:
            props["client_at"] = self.client_at
        if self.offset_ms is not None:
            props["offset_ms"] = self.offset_ms
        if self.sections:
            props["sections"] = self.sections
        return props


@dataclass
class _Clock:
    """A delivery's read clock (Delivery.read_clock_at): read time of all its sessions has been
    credited up to this moment. A batch may credit no more than the wall clock since then, so
    parallel tabs (or scripted sessions) share one wall clock instead of adding up."""

    delivery_id: int
    loaded: datetime | None
    at: datetime | None = None

    def __post_init__(self) -> None:
        self.at = self.loaded

    @property
    def changed(self) -> bool:
        return self.at != self.loaded

    def advance(self, credited_ms: int, now: datetime) -> None:
        """Lay the credited time on the clock, as late as it can be (ending `now`: the batch's
        arrival, or when its reading ended by the client's clock), but never over time already
        credited: the clock moves by at least credited_ms, so the
        delivery's total never exceeds the wall clock since its first credit (plus at most
        CARRY_MAX_MS of jitter, which _budget allows beyond now)."""
        start = now - timedelta(milliseconds=credited_ms)
        if self.at is not None and self.at > start:
            start = self.at
        self.at = start + timedelta(milliseconds=credited_ms)


@dataclass
class _Session:
    """A view session the batches report on, as loaded (and locked), and what they change."""

    id: int
    customer_id: int | None  # None: a forwarded reader not identified (portal.delivery.visitors)
    visitor_id: int | None
    delivery_id: int
    started_at: datetime
    last_seen_at: datetime
    credited_ms: int
    page_count: int | None  # the version's sample render (for tokens that carry none)
    gone: bool  # the delivery is revoked or expired, or all its doc links are
    delivery_created_at: datetime
    confirmed: bool  # the viewer confirmed the open (a fetch alone reports nothing)
    clock: _Clock
    loaded_seen_at: datetime = field(init=False)
    loaded_credited_ms: int = field(init=False)
    summary: _Summary | None = None
    tally: _Tally | None = None

    def __post_init__(self) -> None:
        self.loaded_seen_at, self.loaded_credited_ms = self.last_seen_at, self.credited_ms

    @property
    def changed(self) -> bool:
        return self.tally is not None

    def key(self, name: str) -> str:
        return f"s{self.id}:{name}"

    @property
    def summary_key(self) -> str:
        return self.key(EventType.DOC_READ.value)


def _load(session_ids: list[int], now: datetime) -> dict[int, _Session]:
    """The sessions, locked, with their delivery's live state and page count: one query."""
    rows = db.session.execute(_by_dialect(_LOAD), {"session_ids": session_ids}).all()
    grouped: dict[int, list] = {}
    for row in rows:
        grouped.setdefault(row.id, []).append(row)
    loaded: dict[int, _Session] = {}
    clocks: dict[int, _Clock] = {}
    for session_id, group in grouped.items():
        row = group[0]
        doc_links = [r for r in group if r.link_id is not None]
        gone = _ended(row.delivery_revoked_at, row.delivery_expires_at, now) or bool(
            doc_links and all(_ended(r.link_revoked_at, r.link_expires_at, now) for r in doc_links)
        )
        loaded[session_id] = _Session(
            row.id,
            row.customer_id,
            row.visitor_id,
            row.delivery_id,
            row.started_at,
            row.last_seen_at,
            row.credited_ms,
            row.page_count,
            gone,
            row.delivery_created_at,
            row.confirmed_at is not None,
            clocks.setdefault(row.delivery_id, _Clock(row.delivery_id, row.read_clock_at)),
        )
    return loaded


def _ended(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """A delivery's or link's row is gone: revoked, or expired (as links.is_gone says)."""
    return revoked_at is not None or (expires_at is not None and expires_at <= now)


def _stored(keys: set[str]) -> dict[str, Any]:
    """The stored events among these idempotency keys, by key."""
    ordered = sorted(keys)
    found: dict[str, Any] = {}
    for start in range(0, len(ordered), KEYS_PER_QUERY):
        chunk = ordered[start : start + KEYS_PER_QUERY]
        for row in db.session.execute(_by_dialect(_STORED), {"keys": chunk}):
            found[row.idempotency_key] = row
    return found


def apply_batches(
    batches: list[Batch],
    *,
    strict: bool = False,
    gone: set[tuple[int, datetime]] | None = None,
    extra: list[NewEvent] | None = None,
) -> list[IngestResult | None]:
    """Apply batches (in the order given) inside the current transaction; the caller commits.

    strict (the direct path: one batch, not yet acknowledged) refuses a batch whose session is
    unknown (SessionNotFound), gone (SessionGone) or whose pages the version lacks
    (InvalidReport). Otherwise (the queue: batches already acknowledged) nothing is refused: a
    batch of a session that does not exist (deleted with its customer since) gets None, for the
    caller to set aside, and the budget caps what a late batch credits. `gone` collects
    (id, created_at) of the deliveries found revoked or expired. `extra` events (queued by
    other paths: downloads) are stored by the same record_many call."""
    if not batches:
        if extra:
            record_many(extra)
        return []
    sessions = _load(sorted({b.session_id for b in batches}), batches[-1].received_at)
    if gone is not None:
        gone.update((s.delivery_id, s.delivery_created_at) for s in sessions.values() if s.gone)
    if strict:
        for batch in batches:
            session = sessions.get(batch.session_id)
            if session is None:
                raise SessionNotFound("unknown tracking session")
            if session.gone:
                raise SessionGone("this document link has expired or was revoked")
            if not session.confirmed:
                raise SessionNotConfirmed(
                    "confirm the open first (POST /t/o): a fetched page reports no read time"
                )
            check_pages(batch.reports, batch.page_count or session.page_count)
    wanted = {s.summary_key for s in sessions.values()}
    for batch in batches:
        if batch.session_id in sessions:
            session = sessions[batch.session_id]
            wanted.update(session.key(r.key) for r in batch.reports)
    stored = _stored(wanted)
    for session in sessions.values():
        row = stored.get(session.summary_key)
        session.summary = _Summary(row.id, row.properties or {}) if row is not None else None
    seen = set(stored)
    results: list[IngestResult | None] = []
    new_events: list[NewEvent] = list(extra or [])
    for batch in batches:
        session = sessions.get(batch.session_id)
        if session is None:
            results.append(None)
            continue
        results.append(_apply_one(session, batch, seen, new_events))
    changed = [s for s in sessions.values() if s.changed]
    _advance(changed)
    _advance_clocks({s.clock.delivery_id: s.clock for s in changed})
    for session in changed:
        if session.summary is None:
            new_events.append(_summary_event(session))
    _update_summaries([s for s in changed if s.summary is not None])
    if new_events:
        record_many(new_events)
    return results


def _apply_one(
    session: _Session, batch: Batch, seen: set[str], new_events: list[NewEvent]
) -> IngestResult:
    """Credit one batch's new reports against its session (in memory)."""
    if not session.confirmed:
        # Queued batches were acknowledged already: a session nobody confirmed (the viewer
        # script never sends before it did) reports nothing and is dropped here.
        return IngestResult(0, len(batch.reports), 0, session.credited_ms)
    fresh: list[Report] = []
    for report in batch.reports:
        key = session.key(report.key)
        if key not in seen:
            seen.add(key)
            fresh.append(report)
    duplicates = len(batch.reports) - len(fresh)
    if not fresh:
        return IngestResult(0, duplicates, 0, session.credited_ms)
    if session.tally is None:
        session.tally = _Tally.of(session.summary)
    now = batch.received_at
    timed = all(r.at is not None for r in fresh)
    read_until = now
    if timed:
        read_until = session.tally.observe(fresh, now)
        budget = _budget(session, None, now)
    else:
        budget = _budget(session, session.tally.carry_ms, now)
    events = _credit(session, fresh, budget, session.tally, now, timed)
    credited = sum(e.duration_ms or 0 for e in events)
    session.last_seen_at = max(session.last_seen_at, now)
    session.credited_ms += credited
    if credited:
        session.clock.advance(credited, read_until)
    session.tally.carry_ms = min(CARRY_MAX_MS, budget - credited)
    new_events.extend(events)
    return IngestResult(len(fresh), duplicates, credited, session.credited_ms)


def _ms_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start) / timedelta(milliseconds=1)))


def _budget(session: _Session, carry_ms: int | None, now: datetime) -> int:
    """What this batch may credit: never more than the wall clock since the session began, and
    never more than the wall clock since the delivery's read clock (plus the jitter allowance):
    parallel sessions of one delivery share one wall clock. A batch without client timestamps
    (carry_ms given) also no more than the wall clock since the previous batch plus the carry
    it left; one with them is bounded report by report in _credit."""
    since_start = _ms_between(session.started_at, now)
    budget = since_start - session.credited_ms
    if carry_ms is not None:
        budget = min(budget, _ms_between(session.last_seen_at, now) + carry_ms)
    if session.clock.at is not None:
        # Signed: the clock may run up to CARRY_MAX_MS ahead of now (see _Clock.advance).
        ahead = int((session.clock.at - now) / timedelta(milliseconds=1))
        budget = min(budget, CARRY_MAX_MS - ahead)
    return max(0, budget)


def _credit(
    session: _Session,
    reports: list[Report],
    budget: int,
    tally: _Tally,
    now: datetime,
    timed: bool = False,
) -> list[NewEvent]:
    """The page.viewed events, each credited min(claim, MAX_REPORT_MS, what is left); `timed`
    (every report has its client timestamp): also no more than the client's clock moved since
    the session's previous report."""
    remaining = budget
    newest = _newest_stamp(reports)
    events: list[NewEvent] = []
    for report in reports:
        credit = min(report.ms, MAX_REPORT_MS, remaining)
        if timed:
            credit = min(credit, tally.allowance(report))
            tally.spend(credit)
        remaining -= credit
        tally.add(report, credit)
        properties: dict[str, Any] = {"claimed_ms": report.ms}
        if report.at is not None:
            properties["client_at"] = report.at
        if report.final:
            properties["final"] = True
        events.append(
            NewEvent(
                customer_id=session.customer_id,
                visitor_id=session.visitor_id,
                type=report.type,
                delivery_id=session.delivery_id,
                session_id=session.id,
                page=report.page,
                section=report.section,
                duration_ms=credit,
                occurred_at=_occurred_at(report, newest, session.started_at, now),
                idempotency_key=session.key(report.key),
                properties=properties,
            )
        )
    return events


def _summary_event(session: _Session) -> NewEvent:
    """The session's one doc.read row: its total read time, from when it began."""
    assert session.tally is not None
    return NewEvent(
        customer_id=session.customer_id,
        visitor_id=session.visitor_id,
        type=EventType.DOC_READ.value,
        delivery_id=session.delivery_id,
        session_id=session.id,
        duration_ms=session.credited_ms,
        occurred_at=session.started_at,
        idempotency_key=session.summary_key,
        properties=session.tally.properties(),
    )


def _update_summaries(sessions: list[_Session]) -> None:
    """Existing summaries are updated in place (record_many would drop them as duplicates)."""
    if not sessions:
        return
    db.session.execute(
        _UPDATE_SUMMARY,
        [
            {
                "summary_id": s.summary.id,
                "total_ms": s.credited_ms,
                "summary_properties": s.tally.properties(),
            }
            for s in sessions
            if s.summary is not None and s.tally is not None
        ],
    )


def _advance(sessions: list[_Session]) -> None:
    """Spend the budgets: move last_seen_at and the totals, only if nobody did meanwhile.

    On PostgreSQL the rows are already locked (FOR UPDATE), so this always matches. SQLite runs
    the earlier SELECTs outside the write lock; the compare-and-set catches a concurrent batch
    that committed in between, and the whole apply is retried.
    """
    if not sessions:
        return
    params = [
        {
            "session_id": s.id,
            "seen_before": s.loaded_seen_at,
            "credited_before": s.loaded_credited_ms,
            "seen_now": s.last_seen_at,
            "credited_now": s.credited_ms,
        }
        for s in sessions
    ]
    _compare_and_set(_ADVANCE, params)


def _compare_and_set(statement, params: list[dict[str, Any]]) -> None:
    """Run a compare-and-set UPDATE for each row of params, in one executemany where the
    driver counts its rows; _Conflict when any row had moved meanwhile."""
    if len(params) == 1 or not db.engine.dialect.supports_sane_multi_rowcount:
        for one in params:
            if db.session.execute(statement, one).rowcount != 1:
                raise _Conflict
        return
    if db.session.execute(statement, params).rowcount != len(params):
        raise _Conflict


def _advance_clocks(clocks: dict[int, _Clock]) -> None:
    """Move the deliveries' read clocks, only where nobody moved them meanwhile (else the
    whole apply is retried, as for the sessions' budgets). One executemany for the round (a
    statement per delivery was a twentieth of the drain's time), as _advance does."""
    params = [
        {"delivery_id": c.delivery_id, "clock_loaded": c.loaded, "clock_now": c.at}
        for c in clocks.values()
        if c.changed
    ]
    if params:
        _compare_and_set(_ADVANCE_CLOCK, params)


def _newest_stamp(reports: list[Report]) -> int | None:
    return max((r.at for r in reports if r.at is not None), default=None)


def _occurred_at(report: Report, newest: int | None, started_at: datetime, now: datetime):
    """When the report's reading ended, on the server's clock: the batch's newest report is
    taken as sent just now, the others as long before it as the client's clock says. Clamped
    to the session, so a client clock that is off cannot move a report outside it."""
    if report.at is None or newest is None:
        return now
    return min(max(now - timedelta(milliseconds=newest - report.at), started_at), now)
