"""The team funnel and the seed's headline figures, for supervisors (their team) and admins.

Each customer the user may see has a timeline of six first times, found in ONE set-based SQL
statement (the same on SQLite and PostgreSQL), whatever the number of sends and events:

    sent      the first send to them
    opened    their first confirmed open (README "What counts as an open": previews and
              internal views never count)
    read_2min when their credited page reading first added up to 2 minutes (a running sum of
              the `page.viewed` durations, in event order)
    grade_a   when their running score first crossed into grade A (the ledger in order; read
              from its rollup of crossings, portal.engagement.crossings)
    deal      their first deal
    won       their first won deal's close

The funnel counts, per rep (the customer's owner), team (the owner's), region (the customer's)
or month (of the first send, in the portal's time zone), the customers first sent to in the
period who reached each step and every step before it, at or after the previous one; the
conversion between steps and the median days between them. Each number lists its customers.

The headline figures (the pilot of the seed: cycle 47 → 29 days, A-grade leads closing at 34 %):
conversion cycle = days from the first send to the first won deal, median and mean, over the
customers whose deal was won in the period (month: of the win); A-grade close rate = customers
who reached grade A in the period (month: of reaching A) and whose deal was won after that, ÷
those who reached A.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
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
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.read_models.analytics import parse_filters
from portal.tracking.models import Event, EventType, ViewSession

GROUPS = ("rep", "team", "region", "month")
STEPS = ("sent", "opened", "read_2min", "grade_a", "deal", "won")
READ_MS = 120_000  # "read ≥ 2 min"
DAY = 86_400.0


@dataclass
class Timeline:
    customer_id: int
    name: str
    company: str
    owner_id: int
    owner_name: str
    team: str
    region: str
    times: dict[str, datetime | None]

    def reached(self) -> int:
        """How many steps in a row were reached, each at or after the one before."""
        count, previous = 0, None
        for step in STEPS:
            at = self.times[step]
            if at is None or (previous is not None and at < previous):
                break
            count, previous = count + 1, at
        return count


@dataclass
class StepFigure:
    step: str
    customers: list[Timeline] = field(default_factory=list)
    conversion: float | None = None  # from the step before
    median_days: float | None = None  # from the step before

    @property
    def count(self) -> int:
        return len(self.customers)


@dataclass
class FunnelRow:
    key: str
    label: str
    steps: list[StepFigure]
    cycle_days: list[float] = field(default_factory=list)
    a_reached: int = 0
    a_won: int = 0

    @property
    def cycle_median(self) -> float | None:
        return round(statistics.median(self.cycle_days), 1) if self.cycle_days else None

    @property
    def cycle_mean(self) -> float | None:
        return round(statistics.fmean(self.cycle_days), 1) if self.cycle_days else None

    @property
    def a_grade_close_rate(self) -> float | None:
        return round(self.a_won / self.a_reached, 4) if self.a_reached else None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "steps": {s.step: s.count for s in self.steps},
            "conversion": {s.step: s.conversion for s in self.steps[1:]},
            "median_days": {s.step: s.median_days for s in self.steps[1:]},
            "conversion_cycle_days": {"median": self.cycle_median, "mean": self.cycle_mean},
            "a_grade_close_rate": self.a_grade_close_rate,
            "a_grade_reached": self.a_reached,
            "a_grade_won": self.a_won,
        }


def may_see_funnel(user: User) -> bool:
    return user.role in (Role.SUPERVISOR, Role.ADMIN)


def _running(values: Any, customer: Any, order: tuple, at: Any) -> Select:
    """Each row with the customer's running sum of `values` (in `order`) after it."""
    running = func.sum(values).over(partition_by=customer, order_by=order)
    return select(
        customer.label("customer_id"),
        at.label("at"),
        values.label("amount"),
        running.label("running"),
    )


def _timelines_query(user: User) -> Select:
    visible = select(Customer.id).where(customers_visible_to(user))
    sent = (
        select(Delivery.customer_id.label("customer_id"), func.min(Delivery.created_at).label("at"))
        .where(Delivery.customer_id.in_(visible))
        .group_by(Delivery.customer_id)
        .subquery("sent")
    )
    opened = (
        select(
            ViewSession.customer_id.label("customer_id"),
            func.min(ViewSession.confirmed_at).label("at"),
        )
        .where(ViewSession.customer_id.in_(visible), ViewSession.confirmed_at.is_not(None))
        .group_by(ViewSession.customer_id)
        .subquery("opened")
    )
    reads = (
        _running(
            Event.duration_ms, Event.customer_id, (Event.occurred_at, Event.id), Event.occurred_at
        )
        .where(
            Event.customer_id.in_(visible),
            Event.type == EventType.PAGE_VIEWED.value,
            Event.duration_ms > 0,
        )
        .subquery("reads")
    )
    read = (
        select(reads.c.customer_id, func.min(reads.c.at).label("at"))
        .where(reads.c.running >= READ_MS)
        .group_by(reads.c.customer_id)
        .subquery("read_2min")
    )
    grade_a = (
        select(GradeACrossing.customer_id, func.min(GradeACrossing.at).label("at"))
        .where(GradeACrossing.customer_id.in_(visible))
        .group_by(GradeACrossing.customer_id)
        .subquery("grade_a")
    )
    deals_seen = deal_scope.visible_to(user)
    deal = (
        select(Deal.customer_id.label("customer_id"), func.min(Deal.created_at).label("at"))
        .where(Deal.customer_id.in_(visible), deals_seen)
        .group_by(Deal.customer_id)
        .subquery("deal")
    )
    won = (
        select(Deal.customer_id.label("customer_id"), func.min(Deal.closed_at).label("at"))
        .where(
            Deal.customer_id.in_(visible),
            deals_seen,
            Deal.stage == Stage.WON.value,
            Deal.closed_at.is_not(None),
        )
        .group_by(Deal.customer_id)
        .subquery("won")
    )
    owner = aliased(User)
    steps = (sent, opened, read, grade_a, deal, won)
    query = select(
        Customer.id,
        Customer.name,
        Customer.company,
        owner.id,
        owner.name,
        func.coalesce(owner.team, ""),
        func.coalesce(Customer.region, ""),
        *(step.c.at for step in steps),
    ).join(owner, owner.id == Customer.owner_id)
    for step in steps:
        query = query.outerjoin(step, step.c.customer_id == Customer.id)
    return query.where(
        customers_visible_to(user),
        (sent.c.at.is_not(None)) | (grade_a.c.at.is_not(None)) | (won.c.at.is_not(None)),
    ).order_by(Customer.id)


def timelines(user: User) -> list[Timeline]:
    """Every visible customer with a send, a grade A or a won deal: their six first times."""
    if not may_see_funnel(user):
        raise PermissionDenied("the funnel is for supervisors and admins", code="no_funnel")
    rows = db.session.execute(_timelines_query(user)).all()
    return [
        Timeline(
            customer_id=row[0],
            name=row[1],
            company=row[2] or "",
            owner_id=row[3],
            owner_name=row[4],
            team=row[5],
            region=row[6],
            times=dict(zip(STEPS, row[7:], strict=True)),
        )
        for row in rows
    ]


def _in_period(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    return at is not None and (since is None or at >= since) and (until is None or at < until)


def _key(group: str, timeline: Timeline, anchor: datetime) -> tuple[str, str]:
    if group == "rep":
        return str(timeline.owner_id), timeline.owner_name
    if group == "team":
        return timeline.team, timeline.team
    if group == "region":
        return timeline.region, timeline.region
    month = anchor.astimezone(timezone()).strftime("%Y-%m")
    return month, month


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / DAY


def funnel(user: User, group: str, args: Mapping[str, str]) -> list[FunnelRow]:
    """The funnel rows for `group`, with the headline figures of each group."""
    if group not in GROUPS:
        raise ValidationFailed(
            f"group must be one of {', '.join(GROUPS)}", code="bad_group", field="group"
        )
    filters = parse_filters(args)
    since, until = filters.since, filters.until
    rows: dict[str, FunnelRow] = {}

    def row_for(key: str, label: str) -> FunnelRow:
        if key not in rows:
            rows[key] = FunnelRow(key, label, [StepFigure(step) for step in STEPS])
        return rows[key]

    for timeline in timelines(user):
        times = timeline.times
        if _in_period(times["sent"], since, until):
            row = row_for(*_key(group, timeline, times["sent"]))
            for index in range(timeline.reached()):
                row.steps[index].customers.append(timeline)
        won, sent, grade_a = times["won"], times["sent"], times["grade_a"]
        if _in_period(won, since, until) and sent is not None and won >= sent:
            row_for(*_key(group, timeline, won)).cycle_days.append(_days(won, sent))
        if _in_period(grade_a, since, until):
            row = row_for(*_key(group, timeline, grade_a))
            row.a_reached += 1
            row.a_won += int(won is not None and won >= grade_a)
    for row in rows.values():
        for previous, step in zip(row.steps, row.steps[1:], strict=False):
            if previous.count:
                step.conversion = round(step.count / previous.count, 4)
            gaps = [_days(t.times[step.step], t.times[previous.step]) for t in step.customers]
            step.median_days = round(statistics.median(gaps), 1) if gaps else None
    return sorted(rows.values(), key=lambda r: (r.key if group == "month" else r.label, r.key))


def step_of(rows: list[FunnelRow], key: str | None, step: str | None) -> StepFigure | None:
    """One number of the funnel, with the customers behind it (the click-through): the row
    `key` of `rows` (as funnel() gave them), step `step`; None when there is no such number."""
    if key is None or step not in STEPS:
        return None
    return next((row.steps[STEPS.index(step)] for row in rows if row.key == key), None)


HEADLINE_MONTHS = 6


@dataclass
class Headline:
    """The supervisor's home page: the two figures of the seed per month, oldest first."""

    months: list[FunnelRow]

    def _trend(self, value: Any) -> str | None:
        """'down', 'up' or 'flat' from the previous month with a figure to this one."""
        known = [v for v in (value(row) for row in self.months) if v is not None]
        if len(known) < 2:
            return None
        return "up" if known[-1] > known[-2] else "down" if known[-1] < known[-2] else "flat"

    @property
    def cycle_trend(self) -> str | None:
        return self._trend(lambda row: row.cycle_median)

    @property
    def close_rate_trend(self) -> str | None:
        return self._trend(lambda row: row.a_grade_close_rate)


def headline(user: User, today: datetime) -> Headline:
    """The last HEADLINE_MONTHS months (in the portal's time zone) of conversion cycle and
    A-grade close rate, for the user's team (admins: everyone)."""
    local = today.astimezone(timezone())
    year, month = local.year, local.month - (HEADLINE_MONTHS - 1)
    while month < 1:
        year, month = year - 1, month + 12
    rows = funnel(user, "month", {"since": f"{year:04d}-{month:02d}-01"})
    return Headline(months=[row for row in rows if row.cycle_days or row.a_reached])
