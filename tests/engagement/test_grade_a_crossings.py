"""The grade-A crossings rollup (portal.engagement.crossings) equals a computation from scratch
over the ledger, for a random history scored through the real event path (events out of time
order, points up and down so customers fall and rise), and stays so through a recompute from
events, a score-only recompute and an erasure."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import delete, select

from portal import jobs
from portal.db_types import utcnow
from portal.engagement import rules
from portal.engagement.grades import GRADE_A_MIN
from portal.engagement.models import GradeACrossing, ScoreEntry
from portal.engagement.recompute import recompute
from portal.extensions import db
from portal.privacy.erasure import erase
from portal.tracking import events
from portal.tracking.models import EventType
from tests.delivery.helpers import make_customer


def from_scratch() -> set[tuple[int, int, object]]:
    """(entry id, customer, time) of every row at which a running score reached A from below."""
    crossings = set()
    totals: dict[int, int] = {}
    entries = db.session.scalars(
        select(ScoreEntry).order_by(ScoreEntry.customer_id, ScoreEntry.at, ScoreEntry.id)
    )
    for entry in entries:
        before = totals.get(entry.customer_id, 0)
        totals[entry.customer_id] = before + entry.points
        if before < GRADE_A_MIN <= before + entry.points:
            crossings.add((entry.id, entry.customer_id, entry.at))
    return crossings


def kept() -> set[tuple[int, int, object]]:
    rows = db.session.execute(
        select(GradeACrossing.entry_id, GradeACrossing.customer_id, GradeACrossing.at)
    )
    return {tuple(row) for row in rows}


def test_the_crossings_equal_the_ledger_through_scoring_recompute_and_erasure(make_user):
    rules.install_defaults()
    jobs.commit()
    rep = make_user("rep")
    admin = make_user("admin")
    customers = [make_customer(rep, f"客户{i}", email=f"c{i}@example.com") for i in range(6)]
    draw = random.Random(14)  # noqa: S311 (a fixed, repeatable history)
    start = utcnow() - timedelta(days=40)
    for _ in range(8):  # batches, each at the comment rule's points of the moment
        rules.update_rule(
            "comment_created", by=None, points=draw.choice([-35, -10, 15, 25, 40]), cap=None
        )
        jobs.commit()
        events.record_many(
            [
                events.NewEvent(
                    customer_id=draw.choice(customers).id,
                    type=EventType.COMMENT_CREATED,
                    occurred_at=start + timedelta(hours=draw.randrange(0, 40 * 24)),
                )
                for _ in range(draw.randrange(1, 6))
            ]
        )
        jobs.commit()
    crossed = from_scratch()
    # not degenerate: several customers crossed, one of them more than once
    assert len({customer for _, customer, _ in crossed}) >= 2
    assert len(crossed) > len({customer for _, customer, _ in crossed})
    assert kept() == crossed

    # a recompute from events pays every comment at the rule's points of now
    rules.update_rule("comment_created", by=None, points=30, cap=None)
    jobs.commit()
    recompute([customers[0].id])
    assert kept() == from_scratch()
    recompute()
    assert kept() == from_scratch() != crossed

    # a score-only recompute repairs the rollup from the ledger
    db.session.execute(delete(GradeACrossing))
    jobs.commit()
    recompute(from_events=False)
    assert kept() == from_scratch()

    # an erasure takes the customer's crossings with their ledger
    victim = next(c for _, c, _ in sorted(kept(), key=lambda row: row[0]))
    erase(admin, victim)
    jobs.commit()
    assert kept() == from_scratch()
    assert victim not in {customer for _, customer, _ in kept()}
    assert kept()
