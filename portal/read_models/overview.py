"""What staff see of their customers: the list, one customer's page, the dashboard's shortcuts.

Every look-up is scoped by portal.customers.services.visible_to. The customer page is built in
a constant number of queries whatever the number of deliveries: the deliveries with their
templates (and versions) and senders, the doc links, the read-time statistics
(portal.tracking.readtime.delivery_stats) and the comment threads (comments_for) are each
loaded in one or two statements, and the doc tokens are signed in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.ownership import assignable_owners, may_have_customers  # noqa: F401  (pages)
from portal.customers.services import get_customer, visible_to
from portal.db_types import utcnow
from portal.delivery import visitors
from portal.delivery.comments import comments_for
from portal.delivery.models import Comment, Delivery
from portal.delivery.services import current_version
from portal.delivery.viewer import delivery_is_gone
from portal.engagement.facts import UNSCORED_TYPES
from portal.extensions import db
from portal.library import permissions
from portal.library.content_tags import tags_of_page
from portal.library.models import Template, TemplateVersion
from portal.library.services import list_templates
from portal.read_models.timeline import timeline
from portal.tracking import links
from portal.tracking.models import Event, EventType, Link, LinkPurpose
from portal.tracking.readtime import DeliveryStats, delivery_stats

LIST_LIMIT = 200  # customers listed at once; a search narrows the rest
TIMELINE_FETCH = 400  # timeline items read; page views are summed up in the bar charts
TIMELINE_SHOWN = 60
MAX_CHART_PAGES = 40  # beyond this, only the pages that were read get a bar
# Page views are shown as each delivery's bar chart, not one timeline line per heartbeat.
TIMELINE_HIDDEN = frozenset({EventType.PAGE_VIEWED.value})


# --- the list ----------------------------------------------------------------------------------


@dataclass
class CustomerRow:
    customer: Customer
    last_activity_at: datetime | None  # the customer's latest tracked action
    last_sent_at: datetime | None
    deliveries: int


def _search(q: str | None):
    text = (q or "").strip().lower()
    if not text:
        return None
    like = f"%{text}%"
    return or_(func.lower(Customer.name).like(like), func.lower(Customer.company).like(like))


def list_customers(
    user: User,
    q: str | None = None,
    owner_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[CustomerRow]:
    """The customers user may see, the most recently active first (then the newest)."""
    last_event = (
        select(func.max(Event.occurred_at))
        # the customer's own actions: a preview or a staff member's view is not activity
        .where(Event.customer_id == Customer.id, Event.type.not_in(UNSCORED_TYPES))
        .correlate(Customer)
        .scalar_subquery()
    )
    sends = (
        select(
            Delivery.customer_id.label("customer_id"),
            func.max(Delivery.created_at).label("last_sent_at"),
            func.count(Delivery.id).label("deliveries"),
        )
        .group_by(Delivery.customer_id)
        .subquery()
    )
    activity = func.coalesce(last_event, sends.c.last_sent_at, Customer.created_at)
    query = (
        select(Customer, last_event, sends.c.last_sent_at, sends.c.deliveries)
        .outerjoin(sends, sends.c.customer_id == Customer.id)
        .where(visible_to(user))
        .options(selectinload(Customer.owner), selectinload(Customer.account))
        .order_by(activity.desc(), Customer.id.desc())
        .limit(limit)
    )
    condition = _search(q)
    if condition is not None:
        query = query.where(condition)
    if owner_id:
        query = query.where(Customer.owner_id == owner_id)
    return [
        CustomerRow(customer, last_at, sent_at, int(count or 0))
        for customer, last_at, sent_at, count in db.session.execute(query)
    ]


def _matching(user: User, q: str | None, owner_id: int | None, what):
    query = select(what).select_from(Customer).where(visible_to(user))
    condition = _search(q)
    if condition is not None:
        query = query.where(condition)
    if owner_id:
        query = query.where(Customer.owner_id == owner_id)
    return query


def matching_ids(user: User, q: str | None, owner_id: int | None, limit: int) -> list[int]:
    """The ids of the customers the list shows for this filter, past the list's own limit (a
    bulk send's "all matching"), at most `limit`."""
    query = _matching(user, q, owner_id, Customer.id).order_by(Customer.id).limit(limit)
    return list(db.session.scalars(query))


def count_matching(user: User, q: str | None, owner_id: int | None) -> int:
    return db.session.scalar(_matching(user, q, owner_id, func.count()))


def count_customers(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(Customer).where(visible_to(user)))


# --- one customer's page -----------------------------------------------------------------------


@dataclass
class PageBar:
    page: int
    seconds: int
    percent: int  # of the delivery's most-read page, for the bar's width
    tags: list[str]


@dataclass
class DeliveryView:
    delivery: Delivery
    shown: TemplateVersion  # what the customer sees now
    stats: DeliveryStats
    bars: list[PageBar]
    comments: list[Comment]
    url: str | None  # the personal link, while it works
    qr_path: str | None
    gone: bool  # withdrawn or expired
    expired: bool
    # forwarded readers (portal.delivery.visitors.visitors_of, forwarded ones)
    visitors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.delivery.id

    @property
    def open_comments(self) -> int:
        return sum(1 for c in self.comments if c.author_type == "customer" and c.status == "open")


@dataclass
class CustomerPage:
    customer: Customer
    portal_url: str
    deliveries: list[DeliveryView]
    portal_expires_at: datetime | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    timeline_more: bool = False
    merge_choices: list[Customer] = field(default_factory=list)  # a visitor merges into these

    @property
    def total_opens(self) -> int:
        return sum(d.stats.opens for d in self.deliveries)

    @property
    def total_read_seconds(self) -> int:
        return sum(d.stats.read_seconds for d in self.deliveries)

    @property
    def last_seen_at(self) -> datetime | None:
        seen = [d.stats.last_seen_at for d in self.deliveries if d.stats.last_seen_at]
        return max(seen) if seen else None


def page_bars(stats: DeliveryStats, version: TemplateVersion) -> list[PageBar]:
    """Seconds per page, every page of the shown version (unread ones at 0 s) plus any page
    read in an earlier, longer version; tags from the shown version's content tags."""
    pages = set(stats.pages)
    count = version.page_count or 0
    if count and count <= MAX_CHART_PAGES and pages:
        pages |= set(range(1, count + 1))
    if not pages:
        return []
    most = max(stats.pages.values(), default=0)
    tags = version.content_tags or {}
    return [
        PageBar(
            page=page,
            seconds=stats.pages.get(page, 0),
            percent=round(100 * stats.pages.get(page, 0) / most) if most else 0,
            tags=tags_of_page(tags, page),
        )
        for page in sorted(pages)
    ]


def _doc_links(delivery_ids: list[int]) -> dict[int, Link]:
    first: dict[int, Link] = {}
    if not delivery_ids:
        return first
    rows = db.session.scalars(
        select(Link)
        .where(
            Link.delivery_id.in_(delivery_ids),
            Link.purpose == LinkPurpose.DOC.value,
            Link.parent_id.is_(None),  # the links the rep sent, not those pages derived
        )
        .order_by(Link.id)
    )
    for link in rows:
        first.setdefault(link.delivery_id, link)
    return first


def _portal_url(link: Link) -> str:
    return links.external_url("customer.portal_home", token=links.token_for(link))


def _doc_urls(link: Link) -> tuple[str, str]:
    token = links.token_for(link)
    return (
        links.external_url("customer.viewer", token=token),
        url_for("customer.qr_svg", token=token),
    )


def deliveries_of(customer: Customer) -> list[DeliveryView]:
    deliveries = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.customer_id == customer.id)
            .options(
                selectinload(Delivery.template).selectinload(Template.versions),
                selectinload(Delivery.version),
                selectinload(Delivery.sender),
            )
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        )
    )
    ids = [d.id for d in deliveries]
    stats = delivery_stats(ids)
    devices = visitors.visitors_by_delivery(ids)
    threads = comments_for(ids)
    doc_links = _doc_links(ids)
    now = utcnow()
    views = []
    for delivery in deliveries:
        shown = current_version(delivery)
        link = doc_links.get(delivery.id)
        gone = delivery_is_gone(delivery, now) or link is None or links.is_gone(link, now)
        url, qr_path = _doc_urls(link) if link is not None and not gone else (None, None)
        views.append(
            DeliveryView(
                delivery=delivery,
                shown=shown,
                stats=stats.get(delivery.id, DeliveryStats()),
                bars=page_bars(stats.get(delivery.id, DeliveryStats()), shown),
                comments=threads.get(delivery.id, []),
                url=url,
                qr_path=qr_path,
                gone=gone,
                expired=delivery.revoked_at is None and gone,
                visitors=[
                    {**v, "first_seen_at": datetime.fromisoformat(v["first_seen"])}
                    for v in devices.get(delivery.id, [])
                    if v["forwarded"]
                ],
            )
        )
    return views


def customer_page(user: User, customer_id: int) -> CustomerPage:
    """Everything on the customer's page; NotFound outside user's customers.

    May create the customer's portal link (first use): the caller commits."""
    customer = get_customer(user, customer_id)
    items = [
        item for item in timeline(customer, TIMELINE_FETCH) if item["type"] not in TIMELINE_HIDDEN
    ]
    portal = links.portal_link(customer)
    deliveries = deliveries_of(customer)
    return CustomerPage(
        customer=customer,
        portal_url=_portal_url(portal),
        portal_expires_at=portal.expires_at,
        deliveries=deliveries,
        timeline=items[:TIMELINE_SHOWN],
        timeline_more=len(items) > TIMELINE_SHOWN,
        merge_choices=(
            visitors.merge_choices(user, customer) if any(d.visitors for d in deliveries) else []
        ),
    )


def sendable_templates(user: User) -> list[Template]:
    """What user may send now: visible, sendable, with a published version (newest first)."""
    return [
        t
        for t in list_templates(user)
        if permissions.can_send(user, t) and t.latest_version is not None
    ]
