"""What the scoring rules need to know about a batch of events, loaded in a few set-based queries.

Events are scored in the order they were stored (ascending id). "Before" an event means the
customer's events with a smaller id: the facts are loaded as they stood before the batch's
first event, then `observe` moves them forward one event at a time. `scores recompute` asks
the same questions of all events at once in SQL (portal.engagement.rebuild_rules); a test
checks that both reach the same ledger.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import Template, TemplateVersion
from portal.tracking.events import round_memo
from portal.tracking.models import Event, EventType, ViewSession

# A customer opening something of ours (return_visit compares the days of these).
OPEN_TYPES = frozenset({EventType.LINK_OPENED.value, EventType.PORTAL_VISITED.value})
# What counts as one interaction for frequent_interaction: things the customer did, not the
# read-time telemetry of an open (page.viewed, doc.read) nor an e-mail pixel (mail scanners
# fetch those); anything the ingest API receives as `external.*` counts too.
INTERACTION_TYPES = frozenset(
    {
        EventType.LINK_OPENED.value,
        EventType.DOC_DOWNLOADED.value,
        EventType.LINK_CLICKED.value,
        EventType.PORTAL_VISITED.value,
        EventType.COMMENT_CREATED.value,
        EventType.REPLY_RECEIVED.value,
        EventType.FORM_SUBMITTED.value,
    }
)
# Not the customer's doing, so never scored by any rule, profile rules included (a customer's
# "first event" is their first scored one): a fetch of the viewer nobody confirmed (a link
# preview, a scanner, a script), a staff member looking at the link, and a portal visit from a
# device other than the recipient's (portal.delivery.portal_visits).
UNSCORED_TYPES = frozenset(
    {
        EventType.LINK_FETCHED.value,
        EventType.INTERNAL_VIEWED.value,
        EventType.PORTAL_OTHER_DEVICE.value,
    }
)
EXTERNAL_PREFIX = "external."
DEFAULT_TIMEZONE = "Asia/Shanghai"


def is_interaction(event_type: str) -> bool:
    return event_type in INTERACTION_TYPES or event_type.startswith(EXTERNAL_PREFIX)


def interaction_filter(types: frozenset[str] = INTERACTION_TYPES):
    """The SQL twin of is_interaction (with `types` in place of the interaction types)."""
    return or_(Event.type.in_(sorted(types)), Event.type.like(f"{EXTERNAL_PREFIX}%"))


@dataclass
class CustomerFacts:
    id: int
    title: str
    industry: str
    grade: str
    last_open_at: datetime | None = None  # the latest open (link.opened, portal.visited)
    interactions: list[datetime] = field(default_factory=list)  # their times, sorted

    def interactions_between(self, start: datetime, end: datetime) -> int:
        """How many interactions happened in (start, end]."""
        return bisect.bisect_right(self.interactions, end) - bisect.bisect_right(
            self.interactions, start
        )


@dataclass
class SessionFacts:
    content_tags: dict[str, Any]  # of the version the session showed
    page_count: int | None
    read_ms: int = 0  # credited read time so far (the page.viewed durations)
    page_ms: dict[int, int] = field(default_factory=dict)  # credited ms per page so far

    def tags_of(self, page: int | None, section: str | None) -> set[str]:
        tags: set[str] = set()
        keys = []
        if page is not None:
            keys.append(str(page))
        if section:
            keys += [section, section if section.startswith("#") else f"#{section}"]
        for key in keys:
            tags.update(self.content_tags.get(key) or [])
        return tags


@dataclass
class Facts:
    customers: dict[int, CustomerFacts]
    delivery_kinds: dict[int, str]  # delivery id -> its template's kind
    sessions: dict[int, SessionFacts]
    timezone: ZoneInfo

    def local_day(self, at: datetime) -> str:
        return at.astimezone(self.timezone).date().isoformat()

    def observe(self, event: Event) -> None:
        """Move the facts past event (after the rules have looked at it)."""
        customer = self.customers.get(event.customer_id)
        if customer is None:
            return
        if event.type == EventType.PAGE_VIEWED and event.session_id in self.sessions:
            session = self.sessions[event.session_id]
            session.read_ms += int(event.duration_ms or 0)
            if event.page is not None:
                session.page_ms[event.page] = session.page_ms.get(event.page, 0) + int(
                    event.duration_ms or 0
                )
        if event.type in OPEN_TYPES and (
            customer.last_open_at is None or event.occurred_at > customer.last_open_at
        ):
            customer.last_open_at = event.occurred_at
        if is_interaction(event.type):
            bisect.insort(customer.interactions, event.occurred_at)


def timezone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE)


def load_facts(events: Sequence[Event], *, interaction_days: int | None) -> Facts:
    """The facts as they stood before events[0] (events sorted by id).

    Locks the customers' rows (PostgreSQL: FOR NO KEY UPDATE, in id order), so that two
    transactions never score one customer at the same time and caps hold under concurrency.
    Not FOR UPDATE: the transaction already holds a KEY SHARE lock on the row (the foreign key
    check of its event INSERT), and FOR UPDATE would deadlock with another transaction that
    holds one too; NO KEY UPDATE does not conflict with KEY SHARE, only with itself.
    interaction_days: how far back frequent_interaction looks (None: it is off, skip it)."""
    first_id = events[0].id
    customer_ids = sorted({e.customer_id for e in events})
    columns = [Customer.id, Customer.title, Customer.industry, Customer.grade]
    if any(e.type in OPEN_TYPES for e in events):
        columns.append(_latest_open(first_id).label("last_open_at"))
    customers = {}
    for row in db.session.execute(
        select(*columns)
        .where(Customer.id.in_(customer_ids))
        .order_by(Customer.id)
        .with_for_update(of=Customer, key_share=True)
    ):
        customers[row.id] = CustomerFacts(
            row.id,
            row.title or "",
            row.industry or "",
            row.grade or "C",
            last_open_at=getattr(row, "last_open_at", None),
        )
    facts = Facts(customers, _delivery_kinds(events), session_facts(events, first_id), timezone())
    if interaction_days is not None:
        _previous_interactions(facts, events, first_id, interaction_days)
    return facts


def _latest_open(first_id: int):
    """The customer's latest open before the batch: a correlated subquery that walks the
    (customer_id, occurred_at) index backwards and stops at the first open it meets."""
    return (
        select(Event.occurred_at)
        .where(
            Event.customer_id == Customer.id,
            Event.type.in_(sorted(OPEN_TYPES)),
            Event.id < first_id,
        )
        .order_by(Event.occurred_at.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def _delivery_kinds(events: Sequence[Event]) -> dict[int, str]:
    ids = {e.delivery_id for e in events if e.delivery_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Delivery.id, Template.kind)
        .join(Template, Template.id == Delivery.template_id)
        .where(Delivery.id.in_(ids))
    )
    return {row.id: row.kind for row in rows}


def session_facts(events: Sequence[Event], first_id: int) -> dict[int, SessionFacts]:
    """The sessions of a batch's page reports: their version's tags and page count, and what
    was read in them before the batch (events with an id below first_id)."""
    ids = {e.session_id for e in events if e.type == EventType.PAGE_VIEWED and e.session_id}
    if not ids:
        return {}
    # Shared by the handlers of one record_many round (its docstring says why that is sound);
    # a handler passing another first_id (scoring skips unscored types) just misses it.
    memo = round_memo()
    key = ("session_facts", frozenset(ids), first_id)
    if memo is not None and key in memo:
        return _copies(memo[key])
    sessions = _load_session_facts(ids, first_id)
    if memo is not None:
        memo[key] = _copies(sessions)  # copies: scoring moves its facts along the batch
    return sessions


def _copies(sessions: dict[int, SessionFacts]) -> dict[int, SessionFacts]:
    return {i: replace(s, page_ms=dict(s.page_ms)) for i, s in sessions.items()}


def _load_session_facts(ids: set[int], first_id: int) -> dict[int, SessionFacts]:
    rows = db.session.execute(
        select(ViewSession.id, TemplateVersion.content_tags, TemplateVersion.page_count)
        .join(Delivery, Delivery.id == ViewSession.delivery_id)
        .outerjoin(
            TemplateVersion,
            and_(
                TemplateVersion.template_id == Delivery.template_id,
                TemplateVersion.number == ViewSession.version_number,
            ),
        )
        .where(ViewSession.id.in_(ids))
    )
    sessions = {row.id: SessionFacts(dict(row.content_tags or {}), row.page_count) for row in rows}
    # What was read before this batch: one grouped query over the sessions' earlier events.
    # The type is filtered here, not in SQL: with `type = 'page.viewed'` in the WHERE, SQLite
    # walks the type index (every report of every session) instead of the session index.
    earlier = db.session.execute(
        select(
            Event.session_id,
            Event.type,
            Event.page,
            func.coalesce(func.sum(Event.duration_ms), 0),
        )
        .where(Event.session_id.in_(ids), Event.id < first_id)
        .group_by(Event.session_id, Event.type, Event.page)
    )
    for session_id, event_type, page, duration_ms in earlier:
        session = sessions.get(session_id)
        if session is None or event_type != EventType.PAGE_VIEWED:
            continue
        session.read_ms += int(duration_ms or 0)
        if page is not None:
            session.page_ms[int(page)] = session.page_ms.get(int(page), 0) + int(duration_ms or 0)
    return sessions


def _previous_interactions(facts: Facts, events: Sequence[Event], first_id: int, days: int) -> None:
    mine = [e for e in events if is_interaction(e.type)]
    if not mine:
        return
    since = min(e.occurred_at for e in mine) - timedelta(days=days)
    rows = db.session.execute(
        select(Event.customer_id, Event.occurred_at)
        .where(
            Event.customer_id.in_(sorted({e.customer_id for e in mine})),
            interaction_filter(),
            Event.occurred_at > since,
            Event.id < first_id,
        )
        .order_by(Event.customer_id, Event.occurred_at)
    )
    for customer_id, occurred_at in rows:
        if customer_id in facts.customers:
            facts.customers[customer_id].interactions.append(occurred_at)
