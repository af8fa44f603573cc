"""Grade-A crossings: the rollup of the ledger that content analytics and the team funnel read.

A crossing is a ledger row at which the customer's running score, the ledger summed in (at, id)
order, reaches GRADE_A_MIN from below (a customer who falls and rises again crosses again). A
late event can put a row before others in that order, so a customer's crossings are worked out
again from their whole ledger (a handful of rows: caps keep it small) whenever their ledger
changes: two statements for any number of customers, called where scores are set from the ledger
(ledger.refresh_scores: the scoring handler, the tick, `scores recompute --ledger-only`;
recompute._rebuild for a recompute from events). Erasure deletes the customer's rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, delete, func, insert, select, true

from portal.engagement.grades import GRADE_A_MIN
from portal.engagement.models import GradeACrossing, ScoreEntry
from portal.extensions import db


def crossings_query(customers: ColumnElement[bool]):
    """(entry_id, customer_id, at) of the crossings of the customers `customers` picks (a
    condition on ScoreEntry.customer_id)."""
    running = func.sum(ScoreEntry.points).over(
        partition_by=ScoreEntry.customer_id, order_by=(ScoreEntry.at, ScoreEntry.id)
    )
    ledger = (
        select(
            ScoreEntry.id.label("entry_id"),
            ScoreEntry.customer_id.label("customer_id"),
            ScoreEntry.at.label("at"),
            ScoreEntry.points.label("points"),
            running.label("running"),
        )
        .where(customers)
        .subquery("ledger")
    )
    return select(ledger.c.entry_id, ledger.c.customer_id, ledger.c.at).where(
        ledger.c.running >= GRADE_A_MIN, ledger.c.running - ledger.c.points < GRADE_A_MIN
    )


def refresh_crossings(
    customer_ids: Iterable[int] | None = None, *, id_range: tuple[int, int] | None = None
) -> None:
    """Work out again the crossings of these customers (None: all; or those whose id is in
    id_range, both ends included) from their ledger."""
    if id_range is not None:
        kept = GradeACrossing.customer_id.between(*id_range)
        ledger = ScoreEntry.customer_id.between(*id_range)
    elif customer_ids is None:
        kept, ledger = true(), true()
    else:
        ids = sorted(set(customer_ids))
        if not ids:
            return
        kept = GradeACrossing.customer_id.in_(ids)
        ledger = ScoreEntry.customer_id.in_(ids)
    db.session.execute(delete(GradeACrossing).where(kept))
    db.session.execute(
        insert(GradeACrossing).from_select(
            ["entry_id", "customer_id", "at"], crossings_query(ledger)
        )
    )
