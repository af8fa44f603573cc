"""A deal as pages and the API show it: the deal with its probability, weighted amount, risk
and stall, computed once per request for a whole list."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from portal.deals.models import Deal, DealNote
from portal.deals.probabilities import probability_for, team_table
from portal.deals.risk import RECENT_NOTES, Risk, assess
from portal.deals.stages import OPEN_STAGES, SPECS
from portal.deals.stalled import Benchmarks, Stall, benchmarks, stall_of
from portal.extensions import db


@dataclass
class DealView:
    deal: Deal
    probability: int
    risk: Risk
    stall: Stall | None

    @property
    def weighted_minor(self) -> Decimal:
        return Decimal(self.deal.amount_minor * self.probability) / 100


def recent_notes(deal_ids: list[int]) -> dict[int, list[DealNote]]:
    """Each deal's latest notes, newest first."""
    notes: dict[int, list[DealNote]] = defaultdict(list)
    if not deal_ids:
        return notes
    for note in db.session.scalars(
        select(DealNote)
        .where(DealNote.deal_id.in_(deal_ids))
        .order_by(DealNote.deal_id, DealNote.at.desc(), DealNote.id.desc())
    ):
        if len(notes[note.deal_id]) < RECENT_NOTES:
            notes[note.deal_id].append(note)
    return notes


def views_of(deals: list[Deal], marks: Benchmarks | None = None) -> list[DealView]:
    marks = marks or benchmarks()
    notes = recent_notes([d.id for d in deals])
    tables: dict[str, dict[str, int]] = {}
    result = []
    for deal in deals:
        team = deal.owner.team or ""
        if deal.stage in OPEN_STAGES and team:
            table = tables.setdefault(team, team_table(team))
            probability = table[deal.stage]
        else:
            probability = SPECS[deal.stage].probability
        result.append(
            DealView(deal, probability, assess(deal, notes[deal.id]), stall_of(deal, marks))
        )
    return result


def view_of(deal: Deal) -> DealView:
    notes = recent_notes([deal.id])[deal.id]
    return DealView(deal, probability_for(deal), assess(deal, notes), stall_of(deal, benchmarks()))
