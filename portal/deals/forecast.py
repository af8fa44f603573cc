"""The forecast: Σ amount × probability of open deals, grouped per rep, team, region (the
customer's) or month (expected close), computed in SQL; forecast against actual (won amounts
by close month) from the forecast snapshots; the region × month deviation heatmap.

Amounts are minor units. `weighted_minor` is exact: Σ(amount_minor × percent) / 100 as a
Decimal. A won deal's expected_close becomes its real close date (see services.mark_won), so
"won by close month" and "forecast for a month" group on the same column.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, delete, extract, func, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Role, User
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.deals.models import Deal, ForecastSnapshot, StageProbability
from portal.deals.probabilities import probability_sql, team_join
from portal.deals.stages import OPEN_STAGES, Stage
from portal.engagement.facts import timezone
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db

GROUPS = ("rep", "team", "region", "month")


@dataclass
class ForecastRow:
    key: str
    label: str
    currency: str
    deals: int
    pipeline_minor: int
    weighted_minor: Decimal
    won_minor: int


def owner_scope(user: User, owner_column: Any) -> ColumnElement[bool]:
    """Forecasts are for reps (their own), supervisors (their team) and admin (all)."""
    if user.role == Role.ADMIN:
        return owner_column.is_not(None)
    if user.role == Role.SUPERVISOR:
        team = select(User.id).where(User.supervisor_id == user.id)
        return owner_column.in_(team) | (owner_column == user.id)
    if user.role == Role.REP:
        return owner_column == user.id
    raise PermissionDenied("the forecast is for reps, supervisors and admin")


def _month_key(year: Any, month: Any) -> str:
    return f"{int(year):04d}-{int(month):02d}"


def _group_columns(group: str, owner: Any) -> list[Any]:
    if group == "rep":
        return [owner.id, owner.name]
    if group == "team":
        return [func.coalesce(owner.team, "")]
    if group == "region":
        return [func.coalesce(Customer.region, "")]
    if group == "month":
        return [extract("year", Deal.expected_close), extract("month", Deal.expected_close)]
    raise ValidationFailed(
        f"group must be one of {', '.join(GROUPS)}", code="bad_group", field="group"
    )


def forecast(user: User, group: str) -> list[ForecastRow]:
    owner = aliased(User)
    keys = _group_columns(group, owner)
    is_open = Deal.stage.in_(OPEN_STAGES)
    is_won = Deal.stage == Stage.WON.value
    query = (
        select(
            *keys,
            Deal.currency,
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((is_open, Deal.amount_minor), else_=0)),
            func.sum(case((is_open, Deal.amount_minor * probability_sql()), else_=0)),
            func.sum(case((is_won, Deal.amount_minor), else_=0)),
        )
        .join(owner, owner.id == Deal.owner_id)
        .join(Customer, Customer.id == Deal.customer_id)
        .outerjoin(StageProbability, team_join(owner))
        .where(Deal.stage.in_((*OPEN_STAGES, Stage.WON.value)), owner_scope(user, Deal.owner_id))
        .group_by(*keys, Deal.currency)
    )
    rows = []
    for record in db.session.execute(query):
        values = list(record)
        key_values, rest = values[: len(keys)], values[len(keys) :]
        currency, count, pipeline, weighted_x100, won = rest
        if group == "rep":
            key, label = str(key_values[0]), key_values[1]
        elif group == "month":
            key = label = _month_key(*key_values)
        else:
            key = label = key_values[0]
        rows.append(
            ForecastRow(
                key=key,
                label=label,
                currency=currency,
                deals=int(count or 0),
                pipeline_minor=int(pipeline or 0),
                weighted_minor=Decimal(int(weighted_x100 or 0)) / 100,
                won_minor=int(won or 0),
            )
        )
    rows.sort(key=lambda r: (r.key if group == "month" else r.label, r.currency))
    return rows


def snapshot_today(now: datetime) -> int:
    """Today's (the portal's time zone) forecast snapshot; running it again replaces it.
    Called by `flask deals snapshot` and by `tick`."""
    return take_snapshot(now.astimezone(timezone()).date())


def take_snapshot(today: date) -> int:
    """Record today's forecast at the finest grain (replacing today's earlier snapshot, so
    running it again the same day is harmless). Returns the number of rows."""
    owner = aliased(User)
    year = extract("year", Deal.expected_close)
    month = extract("month", Deal.expected_close)
    region = func.coalesce(Customer.region, "")
    team = func.coalesce(owner.team, "")
    query = (
        select(
            year,
            month,
            Deal.owner_id,
            team,
            region,
            Deal.currency,
            func.count(),
            func.sum(Deal.amount_minor),
            func.sum(Deal.amount_minor * probability_sql()),
        )
        .join(owner, owner.id == Deal.owner_id)
        .join(Customer, Customer.id == Deal.customer_id)
        .outerjoin(StageProbability, team_join(owner))
        .where(Deal.stage.in_(OPEN_STAGES))
        .group_by(year, month, Deal.owner_id, team, region, Deal.currency)
    )
    db.session.execute(delete(ForecastSnapshot).where(ForecastSnapshot.taken_on == today))
    count = 0
    for (
        y,
        m,
        owner_id,
        team_name,
        region_name,
        currency,
        deals,
        pipeline,
        weighted,
    ) in db.session.execute(query):
        db.session.add(
            ForecastSnapshot(
                taken_on=today,
                month=_month_key(y, m),
                owner_id=owner_id,
                team=team_name,
                region=region_name,
                currency=currency,
                weighted_minor=int(weighted or 0) // 100,
                pipeline_minor=int(pipeline or 0),
                deal_count=int(deals),
            )
        )
        count += 1
    db.session.flush()
    return count


def _chosen_snapshots() -> dict[str, date]:
    """month -> the snapshot that states its forecast: the last one taken before the month
    began, else the first one taken during it (months first seen later have none)."""
    pairs = db.session.execute(
        select(ForecastSnapshot.month, ForecastSnapshot.taken_on).distinct()
    ).all()
    by_month: dict[str, list[date]] = defaultdict(list)
    for month, taken_on in pairs:
        by_month[month].append(taken_on)
    chosen = {}
    for month, days in by_month.items():
        start = date(int(month[:4]), int(month[5:7]), 1)
        before = [d for d in days if d < start]
        during = [d for d in days if d >= start and d.strftime("%Y-%m") == month]
        if before:
            chosen[month] = max(before)
        elif during:
            chosen[month] = min(during)
    return chosen


@dataclass
class Accuracy:
    forecast_minor: int
    actual_minor: int

    @property
    def deviation_pct(self) -> float | None:
        if not self.forecast_minor:
            return None
        return round((self.actual_minor - self.forecast_minor) * 100 / self.forecast_minor, 1)


def accuracy(
    user: User, group: str, currency: str = "CNY", today: date | None = None
) -> dict[tuple[str, str], Accuracy]:
    """(group key, month) -> forecast (from the month's snapshot) against won (actual), for
    the months that have ended (before `today`'s month) and have a snapshot, in one
    currency."""
    if group not in ("rep", "team", "region"):
        raise ValidationFailed(
            "accuracy groups by rep, team or region", code="bad_group", field="group"
        )
    current = (today or utcnow().astimezone(timezone()).date()).strftime("%Y-%m")
    chosen = {m: d for m, d in _chosen_snapshots().items() if m < current}
    result: dict[tuple[str, str], Accuracy] = {}
    if not chosen:
        return result
    snap_key = {
        "rep": ForecastSnapshot.owner_id,
        "team": ForecastSnapshot.team,
        "region": ForecastSnapshot.region,
    }[group]
    for month, taken_on in chosen.items():
        rows = db.session.execute(
            select(snap_key, func.sum(ForecastSnapshot.weighted_minor))
            .where(
                ForecastSnapshot.month == month,
                ForecastSnapshot.taken_on == taken_on,
                ForecastSnapshot.currency == currency,
                owner_scope(user, ForecastSnapshot.owner_id),
            )
            .group_by(snap_key)
        )
        for key, weighted in rows:
            result[(str(key), month)] = Accuracy(int(weighted or 0), 0)
    owner = aliased(User)
    deal_key = {
        "rep": Deal.owner_id,
        "team": func.coalesce(owner.team, ""),
        "region": func.coalesce(Customer.region, ""),
    }[group]
    year = extract("year", Deal.expected_close)
    month_col = extract("month", Deal.expected_close)
    won = db.session.execute(
        select(deal_key, year, month_col, func.sum(Deal.amount_minor))
        .join(owner, owner.id == Deal.owner_id)
        .join(Customer, Customer.id == Deal.customer_id)
        .where(
            Deal.stage == Stage.WON.value,
            Deal.currency == currency,
            owner_scope(user, Deal.owner_id),
        )
        .group_by(deal_key, year, month_col)
    )
    for key, y, m, amount in won:
        month = _month_key(y, m)
        if month not in chosen:
            continue
        cell = result.setdefault((str(key), month), Accuracy(0, 0))
        cell.actual_minor += int(amount or 0)
    return result


@dataclass
class Heatmap:
    regions: list[str]
    months: list[str]
    cells: dict[tuple[str, str], Accuracy]


def deviation_heatmap(
    user: User, currency: str = "CNY", months: int = 12, today: date | None = None
) -> Heatmap:
    """Region × month deviation of the last `months` ended months."""
    cells = accuracy(user, "region", currency, today)
    all_months = sorted({m for _, m in cells})[-months:]
    regions = sorted({r for r, m in cells if m in all_months})
    return Heatmap(regions, all_months, {k: v for k, v in cells.items() if k[1] in all_months})


def weighted_by_month_and_stage(
    user: User, currency: str = "CNY"
) -> dict[tuple[str, str], Decimal]:
    """(expected close month, stage) -> the weighted amount (minor units, exact) of the open
    deals the user may forecast, in one currency: the forecast page's pipeline chart."""
    owner = aliased(User)
    year = extract("year", Deal.expected_close)
    month = extract("month", Deal.expected_close)
    query = (
        select(year, month, Deal.stage, func.sum(Deal.amount_minor * probability_sql()))
        .join(owner, owner.id == Deal.owner_id)
        .outerjoin(StageProbability, team_join(owner))
        .where(
            Deal.stage.in_(OPEN_STAGES),
            Deal.currency == currency,
            owner_scope(user, Deal.owner_id),
        )
        .group_by(year, month, Deal.stage)
    )
    return {
        (_month_key(y, m), stage): Decimal(int(weighted or 0)) / 100
        for y, m, stage, weighted in db.session.execute(query)
    }


def region_totals(heat: Heatmap) -> dict[str, Accuracy]:
    """region -> forecast and won summed over the heatmap's months (the last ended months
    with a snapshot): the forecast page's forecast-vs-actual chart."""
    totals: dict[str, Accuracy] = {}
    for (region, _month), cell in heat.cells.items():
        total = totals.setdefault(region, Accuracy(0, 0))
        total.forecast_minor += cell.forecast_minor
        total.actual_minor += cell.actual_minor
    return dict(sorted(totals.items()))
