"""Rebuilding scores: `flask --app wsgi scores recompute [--customer ID] [--ledger-only]`.

Two levels, both ending in the same set-based UPDATE (ledger.refresh_scores: score = the sum of
the customer's ledger rows, grade = a CASE over it, one statement for all the selected
customers, no Python arithmetic):

* default, "from events": the selected customers' ledger rows are deleted and their events are
  replayed through the very code the live handler runs (scoring.score_events), in chunks, with
  the rules as they are now. Events are replayed in the order they were stored (ascending id),
  which is the order the live handler saw them: occurred_at order would differ for events
  reported late with an earlier time (ingest API, queued viewer reports) and could then pay a
  different event, or a cap to a different rule. So with unchanged rules and customer profiles
  a recompute gives back the same score and the same breakdown (rule, points, event, time);
  after a rule edit it applies the new points everywhere (at the new rule version). Rows of
  the clock's rules (no_reply_3d, applied by `flask tick`) are kept: they record time windows
  that no event replay can rebuild.
* `--ledger-only`: only the UPDATE, trusting the ledger (repairs a score changed by hand).

Customers are rebuilt in groups, one transaction each, with their rows locked like the live
handler locks them, so a recompute can run while events arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from portal.customers.models import Customer
from portal.engagement.ledger import refresh_scores
from portal.engagement.models import ScoreEntry
from portal.engagement.rules import CLOCK_RULES, active_rules
from portal.engagement.scoring import score_events
from portal.extensions import db
from portal.tracking.models import Event

CUSTOMER_GROUP = 200  # customers rebuilt per transaction
EVENT_CHUNK = 2000  # events replayed per scoring pass


@dataclass
class RecomputeResult:
    customers: int = 0
    events: int = 0
    entries: int = 0


def recompute(
    customer_ids: list[int] | None = None, *, from_events: bool = True
) -> RecomputeResult:
    """Rebuild the scores of these customers (None: all), committing per group."""
    result = RecomputeResult()
    if not from_events:
        if customer_ids is None:
            refresh_scores(None)
            result.customers = db.session.scalar(select(func.count(Customer.id))) or 0
        else:
            result.customers = len(refresh_scores(customer_ids))
        db.session.commit()
        return result
    for group in _groups(customer_ids):
        _lock(group)
        # Rows the clock wrote (no_reply_3d) are facts about time windows, not about events:
        # replaying events cannot rebuild them, so they are kept as they are.
        db.session.execute(
            delete(ScoreEntry).where(
                ScoreEntry.customer_id.in_(group), ScoreEntry.rule_key.not_in(CLOCK_RULES)
            )
        )
        rules = active_rules()
        for chunk in _event_chunks(group):
            score_events(chunk, rules=rules, refresh=False)
            result.events += len(chunk)
        refresh_scores(group)
        result.entries += (
            db.session.scalar(
                select(func.count(ScoreEntry.id)).where(ScoreEntry.customer_id.in_(group))
            )
            or 0
        )
        result.customers += len(group)
        db.session.commit()
    return result


def _groups(customer_ids: list[int] | None) -> Iterator[list[int]]:
    query = select(Customer.id).order_by(Customer.id)
    if customer_ids is not None:
        query = query.where(Customer.id.in_(sorted(set(customer_ids))))
    ids = list(db.session.scalars(query))
    for start in range(0, len(ids), CUSTOMER_GROUP):
        yield ids[start : start + CUSTOMER_GROUP]


def _lock(customer_ids: list[int]) -> None:
    db.session.execute(
        select(Customer.id)
        .where(Customer.id.in_(customer_ids))
        .order_by(Customer.id)
        .with_for_update(key_share=True)
    ).all()


def _event_chunks(customer_ids: list[int]) -> Iterator[list[Event]]:
    """The customers' events in stored order, EVENT_CHUNK at a time (keyset paging)."""
    after = 0
    while True:
        chunk = list(
            db.session.scalars(
                select(Event)
                .where(Event.customer_id.in_(customer_ids), Event.id > after)
                .order_by(Event.id)
                .limit(EVENT_CHUNK)
            )
        )
        if not chunk:
            return
        yield chunk  # the session holds loaded rows weakly: replayed chunks are let go
        after = chunk[-1].id
