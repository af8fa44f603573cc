"""Stage probabilities: the defaults, and a supervisor's tuning for their team."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from portal.accounts.models import Role, User
from portal.deals.models import Deal, StageProbability
from portal.deals.stages import OPEN_STAGES, SPECS
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db


def default_probability_sql(stage_column: ColumnElement[str]) -> ColumnElement[int]:
    return case({key: spec.probability for key, spec in SPECS.items()}, value=stage_column, else_=0)


def probability_sql() -> ColumnElement[int]:
    """A deal's probability in SQL: its owner team's tuned value, else the default.
    The query must join the owner (a User alias) and outer-join StageProbability on
    `team_join(owner)`."""
    return func.coalesce(StageProbability.probability, default_probability_sql(Deal.stage))


def team_join(owner: Any) -> ColumnElement[bool]:
    return and_(StageProbability.team == owner.team, StageProbability.stage == Deal.stage)


def team_table(team: str) -> dict[str, int]:
    """stage -> probability in effect for `team` (open stages only)."""
    tuned = dict(
        db.session.execute(
            select(StageProbability.stage, StageProbability.probability).where(
                StageProbability.team == team
            )
        ).all()
    )
    return {stage: tuned.get(stage, SPECS[stage].probability) for stage in OPEN_STAGES}


def probability_for(deal: Deal) -> int:
    if deal.stage not in OPEN_STAGES:
        return SPECS[deal.stage].probability
    team = deal.owner.team
    return team_table(team)[deal.stage] if team else SPECS[deal.stage].probability


def set_probability(user: User, team: str, stage: str, probability: int) -> StageProbability:
    """Only the team's supervisor (or admin) may tune, and only within the stage's range."""
    if user.role != Role.ADMIN and not (user.role == Role.SUPERVISOR and user.team == team):
        raise PermissionDenied("only the team's supervisor may tune its probabilities")
    if stage not in OPEN_STAGES:
        raise ValidationFailed(
            f"stage must be one of {', '.join(OPEN_STAGES)}", code="bad_stage", field="stage"
        )
    spec = SPECS[stage]
    if not spec.low <= probability <= spec.high:
        raise ValidationFailed(
            f"probability for {stage} must be between {spec.low} and {spec.high} percent",
            code="probability_out_of_range",
            field="probability",
            low=spec.low,
            high=spec.high,
        )
    row = db.session.scalar(
        select(StageProbability).where(
            StageProbability.team == team, StageProbability.stage == stage
        )
    )
    if row is None:
        row = StageProbability(team=team, stage=stage, probability=probability)
        db.session.add(row)
    row.probability = probability
    row.updated_by_id = user.id
    db.session.flush()
    return row
