"""The ledger of points: what each rule has paid each customer, new rows, and the score.

A `Ledger` is loaded for the customers of a batch (one query), answers "has this rule paid for
this already, and how much room is left under its cap", collects the batch's new rows and writes
them in one multi-row INSERT. The customers' score and grade are then set from the ledger by one
UPDATE (`refresh_scores`), never by adding in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.engagement.crossings import refresh_crossings
from portal.engagement.grades import grade_case
from portal.engagement.models import ScoreEntry
from portal.engagement.rules import RuleConfig
from portal.extensions import db
from portal.tracking.models import Event


@dataclass
class Tally:
    """What one rule has given one customer so far."""

    total: int = 0
    scopes: set[str] = field(default_factory=set)
    times: list[datetime] = field(default_factory=list)  # when it paid

    def room(self, cap: int | None) -> int | None:
        """Points (in absolute value) still allowed under cap; None: no cap."""
        return None if cap is None else max(0, cap - abs(self.total))


@dataclass(frozen=True)
class GradeChange:
    customer_id: int
    old: str
    new: str
    score: int


class Ledger:
    def __init__(self, tallies: dict[tuple[int, str], Tally]):
        self._tallies = tallies
        self.rows: list[dict[str, Any]] = []

    @classmethod
    def load(cls, customer_ids: Iterable[int]) -> Ledger:
        """The ledger of these customers, from their rows (one query; caps keep it small)."""
        ids = sorted(set(customer_ids))
        tallies: dict[tuple[int, str], Tally] = {}
        if ids:
            rows = db.session.execute(
                select(ScoreEntry.customer_id, ScoreEntry.rule_key, ScoreEntry.scope)
                .add_columns(ScoreEntry.points, ScoreEntry.at)
                .where(ScoreEntry.customer_id.in_(ids))
            )
            for customer_id, rule_key, scope, points, at in rows:
                tally = tallies.setdefault((customer_id, rule_key), Tally())
                tally.total += points
                tally.scopes.add(scope)
                tally.times.append(at)
        return cls(tallies)

    def tally(self, customer_id: int, rule_key: str) -> Tally:
        return self._tallies.get((customer_id, rule_key)) or Tally()

    def award(
        self,
        rule: RuleConfig,
        customer_id: int,
        scope: str,
        event: Event | None,
        at: datetime,
        reason: dict[str, Any] | None = None,
    ) -> int:
        """Give rule's points for scope unless already given or the cap is reached; the
        points given (clamped to what the cap leaves, 0 when nothing was given)."""
        if not rule.active:
            return 0
        if not rule.repeatable:
            scope = "once"
        tally = self._tallies.setdefault((customer_id, rule.key), Tally())
        if scope in tally.scopes:
            return 0
        points = rule.points
        room = tally.room(rule.cap)
        if room is not None and abs(points) > room:
            points = room if points > 0 else -room
        if points == 0:
            return 0
        details = dict(reason or {})
        if points != rule.points:
            details["capped_from"] = rule.points
        tally.total += points
        tally.scopes.add(scope)
        tally.times.append(at)
        self.rows.append(
            {
                "customer_id": customer_id,
                "rule_key": rule.key,
                "rule_version": rule.version,
                "points": points,
                "scope": scope,
                "event_id": event.id if event is not None else None,
                "at": at,
                "recorded_at": utcnow(),
                "reason": details,
            }
        )
        return points

    def write(self) -> set[int]:
        """Insert the new rows (one statement); the customers whose points changed."""
        if not self.rows:
            return set()
        db.session.execute(insert(ScoreEntry), self.rows)
        changed = {row["customer_id"] for row in self.rows}
        self.rows = []
        return changed


def refresh_scores(
    customer_ids: Iterable[int] | None = None, *, id_range: tuple[int, int] | None = None
) -> dict[int, tuple[int, str]]:
    """Set score (the sum of the ledger) and grade of these customers (None: all; or those
    whose id is in id_range, both ends included) in one UPDATE; their new (score, grade) by id
    (empty when customer_ids is None: nothing returned). Their grade-A crossings (the rollup
    analytics reads, portal.engagement.crossings) are worked out again with them."""
    total = (
        select(func.coalesce(func.sum(ScoreEntry.points), 0))
        .where(ScoreEntry.customer_id == Customer.id)
        .scalar_subquery()
    )
    statement = update(Customer.__table__).values(score=total, grade=grade_case(total))
    if id_range is not None:
        db.session.execute(statement.where(Customer.id.between(*id_range)))
        refresh_crossings(id_range=id_range)
        _expire_loaded(None)
        return {}
    if customer_ids is None:
        db.session.execute(statement)
        refresh_crossings(None)
        _expire_loaded(None)
        return {}
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        statement.where(Customer.id.in_(ids)).returning(
            Customer.__table__.c.id, Customer.__table__.c.score, Customer.__table__.c.grade
        )
    ).all()
    refresh_crossings(ids)
    _expire_loaded(set(ids))
    return {row.id: (row.score, row.grade) for row in rows}


def _expire_loaded(ids: set[int] | None) -> None:
    """Customers already loaded in the session must not show the old score."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Customer) and (ids is None or obj.id in ids):
            db.session.expire(obj, ["score", "grade"])


def breakdown(customer_id: int) -> list[dict[str, Any]]:
    """The ledger rows behind a customer's score, newest first."""
    rows = db.session.execute(
        select(
            ScoreEntry.rule_key,
            ScoreEntry.points,
            ScoreEntry.event_id,
            ScoreEntry.at,
            ScoreEntry.rule_version,
        )
        .where(ScoreEntry.customer_id == customer_id)
        .order_by(ScoreEntry.at.desc(), ScoreEntry.id.desc())
    )
    return [
        {
            "rule": row.rule_key,
            "points": row.points,
            "event_id": row.event_id,
            "at": row.at.isoformat(),
            "rule_version": row.rule_version,
        }
        for row in rows
    ]
