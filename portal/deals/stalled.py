"""Stalled deals: in their stage longer than won deals spent in that stage (the median of
won deals of the same team when at least MIN_TEAM_SAMPLES exist, else of all won deals)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

from sqlalchemy import select

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.deals.models import Deal, DealStageChange
from portal.deals.stages import Stage, is_open
from portal.extensions import db

MIN_TEAM_SAMPLES = 3
WON_DEALS_SAMPLED = 1000  # the most recent won deals are enough for a median


@dataclass
class Benchmarks:
    by_team: dict[tuple[str, str], list[float]]  # (team, stage) -> seconds per won deal
    overall: dict[str, list[float]]

    def typical(self, team: str, stage: str) -> float | None:
        samples = self.by_team.get((team, stage), [])
        if len(samples) < MIN_TEAM_SAMPLES:
            samples = self.overall.get(stage, [])
        return median(samples) if samples else None


def benchmarks() -> Benchmarks:
    won_ids = (
        select(Deal.id)
        .where(Deal.stage == Stage.WON.value)
        .order_by(Deal.closed_at.desc())
        .limit(WON_DEALS_SAMPLED)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(DealStageChange.deal_id, DealStageChange.to_stage, DealStageChange.at, User.team)
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .join(User, User.id == Deal.owner_id)
        .where(DealStageChange.deal_id.in_(won_ids))
        .order_by(DealStageChange.deal_id, DealStageChange.at, DealStageChange.id)
    ).all()
    per_deal: dict[int, list[tuple[str, datetime, str]]] = defaultdict(list)
    for deal_id, stage, at, team in rows:
        per_deal[deal_id].append((stage, at, team or ""))
    by_team: dict[tuple[str, str], list[float]] = defaultdict(list)
    overall: dict[str, list[float]] = defaultdict(list)
    for changes in per_deal.values():
        spent: dict[str, float] = defaultdict(float)
        for (stage, at, _), (_, next_at, _) in pairwise(changes):
            spent[stage] += (next_at - at).total_seconds()
        team = changes[0][2]
        for stage, seconds in spent.items():
            by_team[(team, stage)].append(seconds)
            overall[stage].append(seconds)
    return Benchmarks(dict(by_team), dict(overall))


@dataclass
class Stall:
    days_in_stage: int
    typical_days: int


def stall_of(deal: Deal, marks: Benchmarks, now: datetime | None = None) -> Stall | None:
    """A Stall when the open deal has stayed longer than the typical won deal did."""
    if not is_open(deal.stage):
        return None
    typical = marks.typical(deal.owner.team or "", deal.stage)
    if typical is None:
        return None
    spent = (now or utcnow()) - deal.stage_entered_at
    if spent <= timedelta(seconds=typical):
        return None
    return Stall(spent.days, int(typical // 86400))
