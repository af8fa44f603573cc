"""Read-time reports from the viewer: checked, capped at the wall clock, stored once.

The viewer script posts batches to /t/r (see portal.routes.tracking):

    {"s": "<ingest token>", "reports": [
        {"k": "<client uuid>", "type": "page.viewed", "page": 2, "ms": 10000,
         "at": <client epoch ms>, "final": false}, ...]}

A batch is validated as a whole before anything is written: a malformed or absurd batch is
refused with nothing stored. An accepted batch is one transaction and one commit (a 2xx means
committed): the session row is locked, the new reports are credited against the session's
wall-clock budget, stored through the one event path (portal.tracking.events.record_many) in one
multi-row INSERT, and the session's `doc.read` summary row is created or updated.

The budget: a batch may be credited no more than the wall-clock time since the session's previous
batch, plus a small carry for network jitter. The carry is what the previous batch left unspent,
at most CARRY_MAX_MS, so it cannot grow by sending many batches; and the session total never
exceeds the wall-clock time since the session began. Each report is credited min(claim,
MAX_REPORT_MS, what is left of the budget), in the order sent: Event.duration_ms is what was
credited, `properties.claimed_ms` what the client said.

The doc.read row (one per session, key "s<id>:doc.read") holds the session total in duration_ms
and in its properties `pages` {"<page>": ms}, `sections` {"<section>": ms} (when any) and
`carry_ms` (the budget left for the next batch).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.errors import NotFound, PayloadTooLarge, PortalError, ValidationFailed
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.tracking import links
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import Event, EventType, Link, LinkPurpose, ViewSession
from portal.tracking.sessions import INGEST_SALT

MAX_BODY_BYTES = 64 * 1024
MAX_REPORTS = 100
MAX_REPORT_MS = 600_000  # one report never credits more than 10 minutes
ABSURD_MS = 24 * 3600 * 1000  # a claim beyond a day is refused, not clamped
CARRY_MAX_MS = 1_500  # unspent budget one batch may pass to the next (network jitter)
UNKNOWN_PAGE_COUNT_MAX = 500  # pages accepted when the version's page count is unknown
MAX_SECTION_LENGTH = 80
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01: beyond it `at` is not a timestamp
CLIENT_TYPES = frozenset({EventType.PAGE_VIEWED.value})
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
ATTEMPTS = 3  # a batch that lost a race (duplicate key, concurrent batch) is retried


class MalformedBatch(PortalError):
    status = 400
    code = "malformed_batch"


class InvalidReport(ValidationFailed):
    code = "invalid_report"


class SessionNotFound(NotFound):
    code = "session_not_found"


class SessionGone(PortalError):
    status = 410
    code = "gone"


class IngestBusy(PortalError):
    """The batch kept losing races with concurrent batches; nothing was stored, retry it."""

    status = 503
    code = "busy"


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
class Report:
    index: int
    key: str
    type: str
    page: int | None
    section: str | None
    ms: int
    at: int | None
    final: bool


def clock() -> datetime:
    """The server's time; tests freeze it by monkeypatching this function."""
    return utcnow()


# -- parsing and validation (no database) ---------------------------------------------------------


def parse_body(raw: bytes | str) -> Any:
    """The JSON of a request body, whatever its Content-Type (sendBeacon sends text/plain)."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise MalformedBatch("the body is not UTF-8 text") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedBatch(f"the body is not valid JSON: {exc}") from exc


def token_of(payload: Any) -> Any:
    """The ingest token a parsed body carries (`s`), if any; checked by ingest_batch."""
    return payload.get("s") if isinstance(payload, dict) else None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _report(index: int, item: Any) -> Report:
    where = f"reports[{index}]"
    if not isinstance(item, dict):
        raise MalformedBatch(f"{where} must be an object")

    def refuse(field: str, rule: str) -> InvalidReport:
        got = _describe(item.get(field)) if field in item else "nothing"
        return InvalidReport(f"{where}.{field} {rule} (got {got})")

    key = item.get("k")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise refuse("k", "must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -")
    kind = item.get("type")
    if kind not in CLIENT_TYPES:
        raise refuse("type", f"must be one of: {', '.join(sorted(CLIENT_TYPES))}")
    ms = item.get("ms")
    if not _integer(ms) or not 0 <= ms <= ABSURD_MS:
        raise refuse("ms", f"must be a whole number of milliseconds from 0 to {ABSURD_MS}")
    page = item.get("page")
    if page is not None and (not _integer(page) or page < 1):
        raise refuse("page", "must be a page number from 1")
    section = item.get("section")
    if section is not None and (
        not isinstance(section, str) or not 0 < len(section) <= MAX_SECTION_LENGTH
    ):
        raise refuse("section", f"must be text of 1 to {MAX_SECTION_LENGTH} characters")
    if page is None and section is None:
        raise refuse("page", "is required (or a section)")
    at = item.get("at")
    if at is not None and (not _integer(at) or not 0 < at < MAX_EPOCH_MS):
        raise refuse("at", "must be the client's time in milliseconds since 1970")
    final = item.get("final", False)
    if not isinstance(final, bool):
        raise refuse("final", "must be true or false")
    return Report(index, key, kind, page, section, ms, at, final)


def validate(token: Any, payload: Any) -> list[Report]:
    """The batch's reports, or the first reason it is refused (400, 413 or 422)."""
    if not isinstance(payload, dict):
        raise MalformedBatch('the body must be a JSON object {"s": ..., "reports": [...]}')
    if not isinstance(token, str) or not token:
        raise MalformedBatch("s (the session token) must be a non-empty string")
    items = payload.get("reports")
    if not isinstance(items, list):
        raise MalformedBatch("reports must be a list")
    if len(items) > MAX_REPORTS:
        raise PayloadTooLarge(
            f"at most {MAX_REPORTS} reports per batch (got {len(items)})",
            code="too_many_reports",
        )
    return [_report(i, item) for i, item in enumerate(items)]


# -- the write path -------------------------------------------------------------------------------


def ingest_batch(token: str, payload: Any, now: datetime | None = None) -> IngestResult:
    """Validate, credit and store one batch in one transaction; the result is committed.

    Raises MalformedBatch (400), SessionNotFound (404), SessionGone (410), PayloadTooLarge
    (413), InvalidReport (422) with nothing stored; IngestBusy (503) if concurrent batches
    kept winning the race (nothing stored either: the client retries).
    """
    now = now or clock()
    reports = validate(token, payload)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = _apply(token, reports, now)
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


# The statements of the write path, built once: building a statement per request costs more
# than running it. Core tables, no ORM entities: the rows are only read, and written back by id.
_sessions = ViewSession.__table__
_events = Event.__table__
_LOAD = (
    select(
        _sessions.c.id,
        _sessions.c.customer_id,
        _sessions.c.delivery_id,
        _sessions.c.started_at,
        _sessions.c.last_seen_at,
        _sessions.c.credited_ms,
        Delivery.__table__.c.revoked_at.label("delivery_revoked_at"),
        Delivery.__table__.c.expires_at.label("delivery_expires_at"),
        TemplateVersion.__table__.c.page_count,
        Link.__table__.c.id.label("link_id"),
        Link.__table__.c.revoked_at.label("link_revoked_at"),
        Link.__table__.c.expires_at.label("link_expires_at"),
    )
    .select_from(
        _sessions.join(Delivery.__table__, Delivery.__table__.c.id == _sessions.c.delivery_id)
        .outerjoin(
            TemplateVersion.__table__,
            and_(
                TemplateVersion.__table__.c.template_id == Delivery.__table__.c.template_id,
                TemplateVersion.__table__.c.number == _sessions.c.version_number,
            ),
        )
        .outerjoin(
            Link.__table__,
            and_(
                Link.__table__.c.delivery_id == Delivery.__table__.c.id,
                Link.__table__.c.purpose == LinkPurpose.DOC.value,
            ),
        )
    )
    .where(_sessions.c.id == bindparam("session_id"))
    .with_for_update(of=_sessions)  # PostgreSQL: concurrent batches of a session queue up
)
_STORED = select(_events.c.id, _events.c.idempotency_key, _events.c.properties).where(
    _events.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
_ADVANCE = (
    update(_sessions)
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.last_seen_at == bindparam("seen_before"),
        _sessions.c.credited_ms == bindparam("credited_before"),
    )
    .values(last_seen_at=bindparam("seen_now"), credited_ms=bindparam("credited_now"))
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
class _Session:
    """The view session a batch reports on, as loaded (and locked) for it."""

    id: int
    customer_id: int
    delivery_id: int
    started_at: datetime
    last_seen_at: datetime
    credited_ms: int
    page_max: int  # the pages of the version it shows


@dataclass
class _Summary:
    id: int
    properties: dict[str, Any]


def _load(token: str, now: datetime) -> _Session:
    """The session behind token, locked, checked live, with its page count: one query."""
    session_id = links.unsign(token, INGEST_SALT)
    if not _integer(session_id):
        session_id = -1  # still query: an unknown token costs what a real one does
    rows = db.session.execute(_LOAD, {"session_id": session_id}).all()
    if not rows:
        raise SessionNotFound("unknown tracking session")
    row = rows[0]
    doc_links = [
        Link(revoked_at=r.link_revoked_at, expires_at=r.link_expires_at)
        for r in rows
        if r.link_id is not None
    ]
    if (
        row.delivery_revoked_at is not None
        or (row.delivery_expires_at is not None and row.delivery_expires_at <= now)
        or (doc_links and all(links.is_gone(link, now) for link in doc_links))
    ):
        raise SessionGone("this document link has expired or was revoked")
    return _Session(
        row.id,
        row.customer_id,
        row.delivery_id,
        row.started_at,
        row.last_seen_at,
        row.credited_ms,
        row.page_count or UNKNOWN_PAGE_COUNT_MAX,
    )


def _ms_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start) / timedelta(milliseconds=1)))


def _apply(token: str, reports: list[Report], now: datetime) -> IngestResult:
    """One batch inside the current transaction (the caller commits)."""
    session = _load(token, now)
    _check_pages(reports, session.page_max)
    summary, fresh = _unseen(session, reports)
    duplicates = len(reports) - len(fresh)
    if not fresh:
        return IngestResult(0, duplicates, 0, session.credited_ms)
    tally = _Tally.of(summary)
    budget = _budget(session, tally.carry_ms, now)
    new_events = _credit(session, fresh, budget, tally, now)
    credited = sum(e.duration_ms or 0 for e in new_events)
    _advance(session, now, credited)
    tally.carry_ms = min(CARRY_MAX_MS, budget - credited)
    if summary is None:
        new_events.append(_summary_event(session, tally))
    else:  # updated in place: record_many would drop it as a duplicate
        db.session.execute(
            _UPDATE_SUMMARY,
            {
                "summary_id": summary.id,
                "total_ms": session.credited_ms,
                "summary_properties": tally.properties(),
            },
        )
    record_many(new_events)
    return IngestResult(len(fresh), duplicates, credited, session.credited_ms)


def _check_pages(reports: list[Report], page_max: int) -> None:
    for report in reports:
        if report.page is not None and report.page > page_max:
            raise InvalidReport(
                f"reports[{report.index}].page must be a page of this document, "
                f"1 to {page_max} (got {report.page})"
            )


def _key(session: _Session, name: str) -> str:
    return f"s{session.id}:{name}"


def _unseen(session: _Session, reports: list[Report]) -> tuple[_Summary | None, list[Report]]:
    """The session's doc.read summary row (if any) and the reports not stored before, without
    repeats within the batch: one query."""
    summary_key = _key(session, EventType.DOC_READ.value)
    wanted = sorted({_key(session, r.key) for r in reports} | {summary_key})
    existing = db.session.execute(_STORED, {"keys": wanted}).all()
    summary = next(
        (
            _Summary(row.id, row.properties or {})
            for row in existing
            if row.idempotency_key == summary_key
        ),
        None,
    )
    seen = {row.idempotency_key for row in existing}
    fresh: list[Report] = []
    for report in reports:
        key = _key(session, report.key)
        if key not in seen:
            seen.add(key)
            fresh.append(report)
    return summary, fresh


@dataclass
class _Tally:
    """What the doc.read summary row carries besides the total: credited ms per page and per
    section, and the budget the last batch left unspent (at most CARRY_MAX_MS)."""

    pages: dict[str, int]
    sections: dict[str, int]
    carry_ms: int

    @classmethod
    def of(cls, summary: _Summary | None) -> _Tally:
        props = summary.properties if summary is not None else {}
        carry = min(CARRY_MAX_MS, max(0, int(props.get("carry_ms", 0))))
        return cls(dict(props.get("pages", {})), dict(props.get("sections", {})), carry)

    def add(self, report: Report, credit: int) -> None:
        if report.page is not None:
            self.pages[str(report.page)] = self.pages.get(str(report.page), 0) + credit
        if report.section is not None:
            self.sections[report.section] = self.sections.get(report.section, 0) + credit

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"pages": self.pages, "carry_ms": self.carry_ms}
        if self.sections:
            props["sections"] = self.sections
        return props


def _budget(session: _Session, carry_ms: int, now: datetime) -> int:
    """What this batch may credit: the wall clock since the previous batch plus the carry it
    left, and never more than the wall clock since the session began."""
    since_previous = _ms_between(session.last_seen_at, now)
    since_start = _ms_between(session.started_at, now)
    return max(0, min(since_previous + carry_ms, since_start - session.credited_ms))


def _credit(
    session: _Session, reports: list[Report], budget: int, tally: _Tally, now: datetime
) -> list[NewEvent]:
    """The page.viewed events, each credited min(claim, MAX_REPORT_MS, what is left)."""
    remaining = budget
    newest = _newest_stamp(reports)
    events: list[NewEvent] = []
    for report in reports:
        credit = min(report.ms, MAX_REPORT_MS, remaining)
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
                type=report.type,
                delivery_id=session.delivery_id,
                session_id=session.id,
                page=report.page,
                section=report.section,
                duration_ms=credit,
                occurred_at=_occurred_at(report, newest, session.started_at, now),
                idempotency_key=_key(session, report.key),
                properties=properties,
            )
        )
    return events


def _summary_event(session: _Session, tally: _Tally) -> NewEvent:
    """The session's one doc.read row: its total read time, from when it began."""
    return NewEvent(
        customer_id=session.customer_id,
        type=EventType.DOC_READ.value,
        delivery_id=session.delivery_id,
        session_id=session.id,
        duration_ms=session.credited_ms,
        occurred_at=session.started_at,
        idempotency_key=_key(session, EventType.DOC_READ.value),
        properties=tally.properties(),
    )


def _advance(session: _Session, now: datetime, credited: int) -> None:
    """Spend the budget: move last_seen_at and the total, only if nobody did meanwhile.

    On PostgreSQL the row is already locked (FOR UPDATE), so this always matches. SQLite runs
    the earlier SELECTs outside the write lock; the compare-and-set catches a concurrent batch
    that committed in between, and the whole batch is retried.
    """
    last_seen_at = max(session.last_seen_at, now)
    total = session.credited_ms + credited
    result = db.session.execute(
        _ADVANCE,
        {
            "session_id": session.id,
            "seen_before": session.last_seen_at,
            "credited_before": session.credited_ms,
            "seen_now": last_seen_at,
            "credited_now": total,
        },
    )
    if result.rowcount != 1:
        raise _Conflict
    session.last_seen_at, session.credited_ms = last_seen_at, total


def _newest_stamp(reports: list[Report]) -> int | None:
    return max((r.at for r in reports if r.at is not None), default=None)


def _occurred_at(report: Report, newest: int | None, started_at: datetime, now: datetime):
    """When the report's reading ended, on the server's clock: the batch's newest report is
    taken as sent just now, the others as long before it as the client's clock says. Clamped
    to the session, so a client clock that is off cannot move a report outside it."""
    if report.at is None or newest is None:
        return now
    return min(max(now - timedelta(milliseconds=newest - report.at), started_at), now)
