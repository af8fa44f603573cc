"""What a digest says, from the real data and only what its reader may see.

Readers are confirmed opens only (a view session the viewer script confirmed: a link preview,
a mail scanner or a staff member's look never confirms one, and `internal.viewed` has no
session at all); a forwarded reader is shown as such. Customers are scoped by
portal.customers.services.visible_to, deals by portal.deals.scope.visible_to, tasks by owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import visible_to as customers_visible_to
from portal.deals import scope as deal_scope
from portal.deals.models import Deal
from portal.deals.stages import OPEN_STAGES
from portal.deals.stalled import benchmarks, stall_of
from portal.delivery.models import Delivery
from portal.digests.periods import Period, today_bounds
from portal.engagement.facts import UNSCORED_TYPES
from portal.extensions import db
from portal.library.models import Template
from portal.tasks.models import Task, TaskStatus
from portal.tracking.models import Event, ViewSession, Visitor

HOT_DAYS = 7  # a grade-A customer is hot when they did something in the last week
SHOWN = 10  # lines per section; the rest is "and N more"


@dataclass
class Reader:
    customer_id: int  # the delivery's customer (whose page the link opens)
    customer: str  # the delivery's customer's name
    document: str
    minutes: int  # read time credited, rounded up
    forwarded: bool = False
    reader: str = ""  # a forwarded reader's name as they gave it, or the contact identified


@dataclass
class HotCustomer:
    customer_id: int
    name: str
    company: str
    score: int


@dataclass
class DueTask:
    customer_id: int
    customer: str
    rule_key: str
    due_at: datetime
    owner: str = ""


@dataclass
class RepEngagement:
    name: str
    opens: int  # confirmed opens of the rep's customers' deliveries
    readers: int  # distinct customers among them


@dataclass
class StalledDeal:
    customer_id: int
    title: str
    owner: str
    days_in_stage: int
    typical_days: int


@dataclass
class Daily:
    readers: list[Reader] = field(default_factory=list)
    hot: list[HotCustomer] = field(default_factory=list)
    tasks: list[DueTask] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.readers or self.hot or self.tasks)


@dataclass
class Weekly:
    team: list[RepEngagement] = field(default_factory=list)
    overdue: list[DueTask] = field(default_factory=list)
    stalled: list[StalledDeal] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (any(r.opens for r in self.team) or self.overdue or self.stalled)


def readers(user: User, start: datetime, end: datetime) -> list[Reader]:
    """Who confirmed an open in [start, end) of a delivery to a customer user may see, one line
    per document and reader, the longest read first."""
    identified = aliased(Customer)
    rows = db.session.execute(
        select(
            Delivery.customer_id,
            Customer.name,
            Template.name,
            Visitor.id,
            Visitor.forwarded,
            Visitor.name,
            identified.name,
            func.sum(ViewSession.credited_ms),
        )
        .join(Delivery, Delivery.id == ViewSession.delivery_id)
        .join(Customer, Customer.id == Delivery.customer_id)
        .join(Template, Template.id == Delivery.template_id)
        .outerjoin(Visitor, Visitor.id == ViewSession.visitor_id)
        .outerjoin(identified, identified.id == ViewSession.customer_id)
        .where(
            ViewSession.confirmed_at.is_not(None),
            ViewSession.confirmed_at >= start,
            ViewSession.confirmed_at < end,
            customers_visible_to(user),
        )
        .group_by(
            Delivery.id,
            Delivery.customer_id,
            Customer.name,
            Template.name,
            Visitor.id,
            Visitor.forwarded,
            Visitor.name,
            identified.name,
        )
    ).all()
    # the recipient's sessions (on any of their devices) are one line; each forwarded reader's
    # (a device of their own) are another
    read_ms: dict[tuple[int, str, str, int | None], int] = {}
    lines: dict[tuple[int, str, str, int | None], Reader] = {}
    for customer_id, customer, document, visitor_id, forwarded, name, contact, ms in rows:
        key = (customer_id, customer, document, visitor_id if forwarded else None)
        read_ms[key] = read_ms.get(key, 0) + int(ms or 0)
        lines.setdefault(
            key,
            Reader(
                customer_id=customer_id,
                customer=customer,
                document=document,
                minutes=0,
                forwarded=bool(forwarded),
                reader=(name or contact or "") if forwarded else "",
            ),
        )
    for key, line in lines.items():
        line.minutes = -(-read_ms[key] // 60_000)
    return sorted(lines.values(), key=lambda r: (-r.minutes, r.customer, r.document))


def hot_customers(user: User, now: datetime) -> list[HotCustomer]:
    """Grade-A customers user may see who did something themselves in the last HOT_DAYS."""
    active = (
        select(Event.customer_id)
        .where(
            Event.occurred_at >= now - timedelta(days=HOT_DAYS),
            Event.occurred_at < now,
            Event.type.not_in(sorted(UNSCORED_TYPES)),
        )
        .distinct()
    )
    return [
        HotCustomer(c.id, c.name, c.company or "", c.score)
        for c in db.session.scalars(
            select(Customer)
            .where(customers_visible_to(user), Customer.grade == "A", Customer.id.in_(active))
            .order_by(Customer.score.desc(), Customer.id)
        )
    ]


def _tasks(condition) -> list[DueTask]:
    return [
        DueTask(t.customer_id, t.customer.name, t.rule_key, t.due_at, t.owner.name)
        for t in db.session.scalars(
            select(Task)
            .where(Task.status == TaskStatus.OPEN.value, condition)
            .options(selectinload(Task.customer), selectinload(Task.owner))
            .order_by(Task.due_at, Task.id)
        )
    ]


def daily(user: User, period: Period) -> Daily:
    day_start, day_end = today_bounds(period)
    return Daily(
        readers=readers(user, period.start, period.end),
        hot=hot_customers(user, period.now),
        tasks=_tasks(
            (Task.owner_id == user.id) & (Task.due_at >= day_start) & (Task.due_at < day_end)
        ),
    )


def _team(user: User) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.supervisor_id == user.id, User.active.is_(True))
            .order_by(User.name, User.id)
        )
    )


def team_engagement(team: list[User], start: datetime, end: datetime) -> list[RepEngagement]:
    counts = {
        owner_id: (int(opens), int(people))
        for owner_id, opens, people in db.session.execute(
            select(
                Customer.owner_id,
                func.count(ViewSession.id),
                func.count(func.distinct(Delivery.customer_id)),
            )
            .join(Delivery, Delivery.id == ViewSession.delivery_id)
            .join(Customer, Customer.id == Delivery.customer_id)
            .where(
                ViewSession.confirmed_at.is_not(None),
                # the recipient's own sessions, as analytics counts opens: a forwarded reader's
                # session on the same link is not the customer reading
                ViewSession.customer_id == Delivery.customer_id,
                ViewSession.confirmed_at >= start,
                ViewSession.confirmed_at < end,
                Customer.owner_id.in_([u.id for u in team]),
            )
            .group_by(Customer.owner_id)
        )
    }
    return [RepEngagement(u.name, *counts.get(u.id, (0, 0))) for u in team]


def stalled_deals(user: User, now: datetime) -> list[StalledDeal]:
    marks = benchmarks()
    found = []
    for deal in db.session.scalars(
        select(Deal)
        .where(deal_scope.visible_to(user), Deal.stage.in_(OPEN_STAGES))
        .options(selectinload(Deal.owner))
        .order_by(Deal.stage_entered_at, Deal.id)
    ):
        stall = stall_of(deal, marks, now)
        if stall is not None:
            found.append(
                StalledDeal(
                    deal.customer_id,
                    deal.title,
                    deal.owner.name,
                    stall.days_in_stage,
                    stall.typical_days,
                )
            )
    return found


def weekly(user: User, period: Period) -> Weekly:
    team = _team(user)
    owners = [u.id for u in team] + [user.id]
    return Weekly(
        team=team_engagement(team, period.start, period.end),
        overdue=_tasks(Task.owner_id.in_(owners) & (Task.due_at < period.now)),
        stalled=stalled_deals(user, period.now),
    )
