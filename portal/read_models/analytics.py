"""Content analytics: how one template (or one of its versions) does with customers.

For the sends of a template the user may see (marketing and admin: every send; a supervisor:
sends to their team's customers; a rep: their own sends), filtered by the customer's industry
and region, the sender's team and the send's date:

- sends; opens: sends a customer opened (a session the viewer confirmed, README "What counts as
  an open"); open rate = opens / sends. Previews (sessions never confirmed) and internal views
  (`internal.viewed`, staff looking) are counted apart, never as opens.
- read time per opened send (the credited time of its confirmed sessions): median and 75th
  percentile (nearest rank); completion: the share of opened sends whose last page was read.
- per page: readers (opened sends with read time on the page) and their median seconds.
- outcomes: the share of recipients whose score crossed into grade A within 7 days of the
  first send of this material to them (from the ledger's rollup of grade-A crossings,
  portal.engagement.crossings), and the won deals of recipients sent this material before the
  win.

Everything is set-based SQL, the same on SQLite and PostgreSQL: a fixed number of statements
whatever the number of sends, sessions and events. Reading figures come from the rollups kept
as events are applied (portal.tracking.rollups: one row per send, one per send and page read),
never from the sessions or events tables: a page costs the same at 20,000 events as at
2,000,000 (P10 in docs/performance.md). Medians and percentiles: on PostgreSQL the ordered-set
aggregates percentile_cont(0.5) (the median) and percentile_disc(0.75) (the nearest rank); on
SQLite, which has no percentile function, one ROW_NUMBER()/COUNT() ranked set gives both. The
numbers are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import aliased

from portal.accounts.models import Role, User
from portal.customers.models import Customer
from portal.customers.services import visible_to as customers_visible_to
from portal.deals import scope as deal_scope
from portal.deals.models import Deal
from portal.deals.stages import Stage
from portal.delivery.models import Delivery
from portal.engagement.facts import timezone
from portal.engagement.models import GradeACrossing
from portal.engagement.portable_sql import PortableSQL
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.library import services as library
from portal.library.models import Template, TemplateVersion
from portal.tracking.models import DeliveryPageReads, DeliveryReads, Visitor

GRADE_A_DAYS = 7  # "became grade A within 7 days" of the first send of the material

# The per-page chart's drawing box (SVG user units; the SVG scales to its container).
CHART_WIDTH, CHART_HEIGHT = 320, 180
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 30, 30, 12, 24


@dataclass(frozen=True)
class Filters:
    version: int | None = None  # a version number; None: every version
    since: datetime | None = None  # sends at or after
    until: datetime | None = None  # sends before
    industry: str | None = None  # the customer's
    region: str | None = None  # the customer's
    team: str | None = None  # the sender's


@dataclass
class PageFigure:
    page: int
    readers: int
    median_seconds: float


@dataclass
class ChartBar:
    page: int
    x: float
    width: float
    y: float  # top of the readers bar
    height: float
    dot_y: float  # the median seconds marker
    readers: int
    median_seconds: float


@dataclass
class PageChart:
    bars: list[ChartBar]
    max_readers: int
    max_seconds: float
    line: str  # the median seconds polyline
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    right: int = CHART_WIDTH - CHART_RIGHT
    top: int = CHART_TOP
    bottom: int = CHART_HEIGHT - CHART_BOTTOM


@dataclass
class TemplateAnalytics:
    sends: int = 0
    opens: int = 0
    previews: int = 0
    internal_views: int = 0
    median_read_seconds: float | None = None
    p75_read_seconds: float | None = None
    completed: int = 0
    recipients: int = 0
    grade_a_customers: int = 0
    deals_won: int = 0
    pages: list[PageFigure] = field(default_factory=list)
    forwards: int = 0  # forwarded readers (other devices on a recipient's link)

    @property
    def open_rate(self) -> float | None:
        return _ratio(self.opens, self.sends)

    @property
    def completion_rate(self) -> float | None:
        return _ratio(self.completed, self.opens)

    @property
    def grade_a_within_7d(self) -> float | None:
        return _ratio(self.grade_a_customers, self.recipients)

    @property
    def chart(self) -> PageChart | None:
        return page_chart(self.pages)

    def as_json(self) -> dict[str, Any]:
        return {
            "sends": self.sends,
            "opens": self.opens,
            "open_rate": _rounded(self.open_rate),
            "median_read_seconds": self.median_read_seconds,
            "p75_read_seconds": self.p75_read_seconds,
            "completion_rate": _rounded(self.completion_rate),
            "previews": self.previews,
            "internal_views": self.internal_views,
            "forwards": self.forwards,
            "pages": [
                {"page": p.page, "readers": p.readers, "median_seconds": p.median_seconds}
                for p in self.pages
            ],
            "recipients": self.recipients,
            "grade_a_customers": self.grade_a_customers,
            "grade_a_within_7d": _rounded(self.grade_a_within_7d),
            "deals_won": self.deals_won,
        }


def _moment(raw: str, field: str, *, end: bool) -> datetime:
    """An ISO date-time (UTC when naive) or a date: its start in the portal's time zone (the
    day after it for `until`, so `until=2027-03-31` includes that day)."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), tzinfo=timezone()).astimezone(UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD) or an ISO date-time", code="bad_date", field=field
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Filters from a query string (the page's form and the API share them)."""
    version = (args.get("version") or "").strip()
    if version and not (version.isdigit() and 0 < int(version) < 1_000_000):
        raise ValidationFailed(
            "version must be a version number", code="bad_version", field="version"
        )
    since = (args.get("since") or "").strip()
    until = (args.get("until") or "").strip()

    def text(name: str) -> str | None:
        return (args.get(name) or "").strip()[:80] or None

    return Filters(
        version=int(version) if version else None,
        since=_moment(since, "since", end=False) if since else None,
        until=_moment(until, "until", end=True) if until else None,
        industry=text("industry"),
        region=text("region"),
        team=text("team"),
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(ms: Any) -> float | None:
    return None if ms is None else round(float(ms) / 1000, 1)


def may_see_template_analytics(user: User) -> bool:
    return user.role in (Role.MARKETING, Role.ADMIN, Role.SUPERVISOR, Role.REP)


def _send_scope(user: User) -> ColumnElement[bool]:
    """Which sends the user's figures are made of."""
    if user.role in (Role.MARKETING, Role.ADMIN):
        return Delivery.id.is_not(None)
    if user.role == Role.SUPERVISOR:
        return customers_visible_to(user)
    if user.role == Role.REP:
        return (Delivery.sender_id == user.id) & customers_visible_to(user)
    raise PermissionDenied("content analytics are for marketing, supervisors and reps")


def _sends(user: User, template: Template, filters: Filters, *, pages: bool = True) -> Select:
    """The sends behind the figures: id, customer, time and (with `pages`) the sent version's
    page count.

    The customer and the sender are joined only when a filter or the user's scope reads them
    (marketing with no filter reads the template's sends alone: every statement of the page
    starts from this set, at 50,000 sends joining 100,000 customers is most of its cost); the
    version only for its page count or a version filter (every send has one: the join never
    drops a send)."""
    sender = aliased(User)
    columns = [
        Delivery.id.label("delivery_id"),
        Delivery.customer_id.label("customer_id"),
        Delivery.created_at.label("sent_at"),
    ]
    if pages:
        columns.append(TemplateVersion.page_count.label("page_count"))
    query = select(*columns).where(Delivery.template_id == template.id)
    if pages or filters.version is not None:
        query = query.join(TemplateVersion, TemplateVersion.id == Delivery.version_id)
    if filters.industry or filters.region or user.role not in (Role.MARKETING, Role.ADMIN):
        query = query.join(Customer, Customer.id == Delivery.customer_id)
    if filters.team:
        query = query.join(sender, sender.id == Delivery.sender_id)
    query = query.where(_send_scope(user))
    if filters.version is not None:
        query = query.where(TemplateVersion.number == filters.version)
    return filtered_sends(query, filters, sender)


def filtered_sends(query: Select, filters: Filters, sender: Any) -> Select:
    """The page's filters on the sends of a query that joins Delivery, Customer and the
    sender (an alias of User): the period of the send, the customer's industry and region,
    the sender's team. The analytics pages and the visit export filter alike through it."""
    if filters.since is not None:
        query = query.where(Delivery.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Delivery.created_at < filters.until)
    if filters.industry:
        query = query.where(Customer.industry == filters.industry)
    if filters.region:
        query = query.where(Customer.region == filters.region)
    if filters.team:
        query = query.where(sender.team == filters.team)
    return query


def _quantiles(values: Any) -> Select:
    """One row (median, p75) over a subquery with a column `v`, from one ranked set (SQLite,
    which has no percentile function; PostgreSQL takes percentile_cont/percentile_disc, the
    same numbers). Median: the mean of the middle one or two values; p75: the nearest rank
    ceil(3n/4)."""
    ranked = select(
        values.c.v,
        func.row_number().over(order_by=values.c.v).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    p75_rank = ranked.c.rn == (3 * ranked.c.n + 3) // 4
    return select(
        func.avg(case((middle, ranked.c.v), else_=None)).label("median"),
        func.min(case((p75_rank, ranked.c.v), else_=None)).label("p75"),
    )


def analytics_of_template(user: User, template_id: int, filters: Filters) -> TemplateAnalytics:
    """The one entry point (page and API): a template the user may see (NotFound otherwise,
    as everywhere in the library), its figures over the user's sends."""
    return template_analytics(user, _analysable_template(user, template_id), filters)


def _analysable_template(user: User, template_id: int) -> Template:
    if not may_see_template_analytics(user):
        raise PermissionDenied(
            "content analytics are for marketing, supervisors and reps", code="no_analytics"
        )
    return library.get_template(user, template_id)


def template_analytics(user: User, template: Template, filters: Filters) -> TemplateAnalytics:
    """The figures of `template` (already checked visible to the user) for the user's sends."""
    sends = _sends(user, template, filters).cte("sends")
    figures = TemplateAnalytics()

    # Per send, its rollup row (portal.tracking.rollups): the recipient's confirmed sessions,
    # unconfirmed ones, credited read time, internal views; and whether its last page was read
    # (looked up by primary key for the opened sends only, not a join of every page row).
    # One statement: the sends are worked out once for every figure but the pages'.
    postgres = db.session.connection().dialect.name == "postgresql"
    reads = DeliveryReads.__table__
    last_page = aliased(DeliveryPageReads)
    opened = func.coalesce(reads.c.opens, 0) > 0
    last_page_read = (
        exists()
        .where(
            last_page.delivery_id == sends.c.delivery_id,
            last_page.page == sends.c.page_count,
        )
        .correlate(sends)
    )
    forwards = (
        select(func.count())
        .where(Visitor.delivery_id.in_(select(sends.c.delivery_id)), Visitor.forwarded.is_(True))
        .scalar_subquery()
    )
    # Read time of each opened send: median and p75, both from one ordered set.
    if postgres:
        # ordered-set aggregates over the rows of this statement (NULLs, the sends not
        # opened, are left out); the two share one sort
        read_ms = case((reads.c.opens > 0, reads.c.read_ms), else_=None)
        quantiles: list[Any] = [
            func.percentile_cont(0.5).within_group(read_ms),
            func.percentile_disc(0.75).within_group(read_ms),
        ]
        one_row = None
    else:
        read_times = (
            select(reads.c.read_ms.label("v"))
            .join(sends, sends.c.delivery_id == reads.c.delivery_id)
            .where(reads.c.opens > 0)
            .subquery()
        )
        one_row = _quantiles(read_times).subquery("read_quantiles")
        quantiles = [func.max(one_row.c.median), func.max(one_row.c.p75)]
    grade_a, grade_a_params = _grade_a_customers(sends)
    statement = (
        select(
            func.count(),
            func.sum(case((opened, 1), else_=0)),
            func.coalesce(func.sum(reads.c.previews), 0),
            func.sum(case((and_(opened, last_page_read), 1), else_=0)),
            func.count(func.distinct(sends.c.customer_id)),
            func.coalesce(func.sum(reads.c.internal_views), 0),
            forwards,
            *quantiles,
            # each its own set, never correlated with the rows of this statement
            grade_a.correlate(None).scalar_subquery(),
            _deals_won(user, sends).correlate(None).scalar_subquery(),
        )
        .select_from(sends)
        .outerjoin(reads, reads.c.delivery_id == sends.c.delivery_id)
    )
    if one_row is not None:
        statement = statement.join(one_row, true())
    row = db.session.execute(statement, grade_a_params).one()
    figures.sends = int(row[0] or 0)
    if not figures.sends:
        return figures
    figures.opens = int(row[1] or 0)
    figures.previews = int(row[2] or 0)
    figures.completed = int(row[3] or 0)
    figures.recipients = int(row[4] or 0)
    figures.internal_views = int(row[5] or 0)
    figures.forwards = int(row[6] or 0)
    figures.median_read_seconds = _seconds(row[7])
    figures.p75_read_seconds = _seconds(row[8])
    figures.grade_a_customers = int(row[9] or 0)
    figures.deals_won = int(row[10] or 0)

    # Per page: the sends with read time on it (one rollup row each), and their median.
    page_sends = _sends(user, template, filters, pages=False).subquery("page_sends")
    page_reads = (
        select(DeliveryPageReads.page.label("k"), DeliveryPageReads.read_ms.label("v"))
        .join(page_sends, page_sends.c.delivery_id == DeliveryPageReads.delivery_id)
        .subquery()
    )
    if postgres:
        per_page = (
            select(
                page_reads.c.k,
                func.count(),
                func.percentile_cont(0.5).within_group(page_reads.c.v),
            )
            .group_by(page_reads.c.k)
            .order_by(page_reads.c.k)
        )
    else:
        per_page = _per_key_median(page_reads)
    figures.pages = [
        PageFigure(int(page), int(readers), _seconds(median_ms) or 0.0)
        for page, readers, median_ms in db.session.execute(per_page)
    ]
    return figures


def _per_key_median(values: Any) -> Select:
    """Per key `k` of a subquery with a value `v`: (k, how many values, their median), in key
    order; the median as in _quantiles."""
    ranked = select(
        values.c.k,
        values.c.v,
        func.row_number().over(partition_by=values.c.k, order_by=values.c.v).label("rn"),
        func.count().over(partition_by=values.c.k).label("n"),
    ).subquery()
    middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    return (
        select(ranked.c.k, func.count(), func.avg(case((middle, ranked.c.v), else_=None)))
        .group_by(ranked.c.k)
        .order_by(ranked.c.k)
    )


def _grade_a_customers(sends: Any) -> tuple[Select, dict[str, Any]]:
    """Recipients whose running score crossed into grade A within GRADE_A_DAYS of the first
    send of the material to them (not those already A before, unless they fell and rose): the
    crossings rollup (portal.engagement.crossings), one row per crossing, never the ledger."""
    portable = PortableSQL(db.session.connection(), timezone())
    first = (
        select(sends.c.customer_id, func.min(sends.c.sent_at).label("first_at"))
        .group_by(sends.c.customer_id)
        .cte("first_sends")
    )
    deadline = literal_column(portable.shift_days("first_sends.first_at", GRADE_A_DAYS))
    query = (
        select(func.count(func.distinct(GradeACrossing.customer_id)))
        .join(first, first.c.customer_id == GradeACrossing.customer_id)
        .where(GradeACrossing.at >= first.c.first_at, GradeACrossing.at <= deadline)
    )
    return query, portable.params()


def _deals_won(user: User, sends: Any) -> Select:
    """Won deals of recipients who were sent the material before the win."""
    query = select(func.count(func.distinct(Deal.id))).where(
        Deal.stage == Stage.WON.value,
        Deal.closed_at.is_not(None),
        exists()
        .where(sends.c.customer_id == Deal.customer_id, sends.c.sent_at < Deal.closed_at)
        .correlate(Deal),
    )
    if user.role in (Role.REP, Role.SUPERVISOR):
        query = query.where(deal_scope.visible_to(user))
    return query


def page_chart(pages: list[PageFigure]) -> PageChart | None:
    """Readers per page as bars (left axis) and their median seconds as a line (right axis)."""
    if not pages:
        return None
    max_readers = max(p.readers for p in pages) or 1
    max_seconds = max(p.median_seconds for p in pages) or 1.0
    plot_w = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    plot_h = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = plot_w / len(pages)
    bars = []
    for index, figure in enumerate(pages):
        height = plot_h * figure.readers / max_readers
        bars.append(
            ChartBar(
                page=figure.page,
                x=round(CHART_LEFT + slot * index + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                y=round(CHART_TOP + plot_h - height, 1),
                height=round(height, 1),
                dot_y=round(CHART_TOP + plot_h * (1 - figure.median_seconds / max_seconds), 1),
                readers=figure.readers,
                median_seconds=figure.median_seconds,
            )
        )
    line = " ".join(f"{round(b.x + b.width / 2, 1)},{b.dot_y}" for b in bars)
    return PageChart(bars=bars, max_readers=max_readers, max_seconds=max_seconds, line=line)


@dataclass
class Column:
    """One column of the page: every version, or one of them."""

    version: int | None
    figures: TemplateAnalytics


@dataclass
class TemplatePage:
    template: Template
    filters: Filters
    compare: int | None
    columns: list[Column]
    versions: list[int]  # the published version numbers, newest first


def template_page(user: User, template_id: int, args: Mapping[str, str]) -> TemplatePage:
    """The analytics page: the figures for the filters and, with `compare=N`, the same
    figures for version N beside them (v1 vs v2)."""
    filters = parse_filters(args)
    compare_raw = (args.get("compare") or "").strip()
    compare = parse_filters({"version": compare_raw}).version if compare_raw else None
    template = _analysable_template(user, template_id)  # once for both columns
    columns = [Column(filters.version, template_analytics(user, template, filters))]
    if compare is not None and compare != filters.version:
        other = replace(filters, version=compare)
        columns.append(Column(compare, template_analytics(user, template, other)))
    versions = [v.number for v in template.versions if v.published]
    return TemplatePage(template, filters, compare, columns, sorted(versions, reverse=True))
