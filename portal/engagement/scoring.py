"""Scoring: every stored event passes through here, in the transaction that stored it.

portal.tracking.events.record_many (the one event path: viewer, portal, ingest API, clock) hands
each batch of new events to `score_new_events` (declared in portal/event_handlers.py). For the
batch it:

1. loads the enabled rules (one query) and the facts the rules need, locking the customers'
   rows so that one customer is never scored by two transactions at once (facts.load_facts);
2. loads the customers' ledger (one query) and walks the events in the order they were stored:
   a customer's first event in the batch gets the profile rules (senior_title, target_industry)
   until they have paid once; every event gets the event rules (portal.engagement.triggers);
   the ledger refuses what was already paid for and clamps to each rule's cap;
3. writes the new ledger rows (one multi-row INSERT) and sets the score (the ledger's sum) and
   grade of the customers whose points changed (one UPDATE; ledger.refresh_scores);
4. tells the grade-change handlers (declared in portal/event_handlers.py, installed on the app
   by create_app), still in the same transaction: side effects outside the database must go
   through portal.jobs.defer (run after the commit).

A rule that is disabled or worth 0 points gives nothing; the clock's rules (no_reply_3d) are
not applied here. Batches of any size cost the same handful of queries, so 1,000 repeats of an
event in one batch are as cheap as one, and can never pay past a cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from flask import Flask, current_app

from portal.engagement.facts import UNSCORED_TYPES, Facts, load_facts
from portal.engagement.ledger import GradeChange, Ledger, refresh_scores
from portal.engagement.rules import CLOCK_RULES, RuleConfig, active_rules
from portal.engagement.triggers import EVENT_TRIGGERS, PROFILE_TRIGGERS
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event

GradeHandler = Callable[[list[GradeChange]], None]
# Where create_app keeps the app's grade-change handlers, in order.
GRADE_EXTENSION = "portal.grade_handlers"


def install_grade_handlers(app: Flask, handlers: Iterable[GradeHandler]) -> None:
    """Make handlers(changes), in this order, run in the scoring transaction when grades change
    (create_app, with the list declared in portal/event_handlers.py)."""
    app.extensions[GRADE_EXTENSION] = tuple(handlers)


def grade_handlers() -> tuple[GradeHandler, ...]:
    return current_app.extensions[GRADE_EXTENSION]


def score_new_events(recorded: list[RecordedEvent]) -> None:
    """The event handler: score a batch of newly stored events."""
    score_events([r.event for r in recorded])


def score_events(
    events: Sequence[Event],
    *,
    rules: dict[str, RuleConfig] | None = None,
    refresh: bool = True,
) -> set[int]:
    """Apply the scoring rules to events (any customers); the ids of the customers whose
    points changed. refresh=False leaves score and grade to the caller (the recompute)."""
    events = [e for e in events if e.type not in UNSCORED_TYPES]
    if not events:
        return set()
    rules = active_rules() if rules is None else rules
    rules = {key: rule for key, rule in rules.items() if key not in CLOCK_RULES and rule.active}
    if not rules:
        return set()
    ordered = sorted(events, key=lambda e: e.id)
    frequent = rules.get("frequent_interaction")
    facts = load_facts(
        ordered,
        interaction_days=int(frequent.params.get("days", 7)) if frequent is not None else None,
    )
    ledger = Ledger.load(facts.customers)
    _walk(ordered, rules, facts, ledger)
    changed = ledger.write()
    if refresh and changed:
        scores = refresh_scores(changed)
        changes = [
            GradeChange(customer_id, facts.customers[customer_id].grade, grade, score)
            for customer_id, (score, grade) in sorted(scores.items())
            if grade != facts.customers[customer_id].grade
        ]
        if changes:
            for handler in grade_handlers():
                handler(changes)
    return changed


def _walk(
    events: Sequence[Event], rules: dict[str, RuleConfig], facts: Facts, ledger: Ledger
) -> None:
    profile = [(rules[key], PROFILE_TRIGGERS[key]) for key in PROFILE_TRIGGERS if key in rules]
    triggers = [(rules[key], EVENT_TRIGGERS[key]) for key in EVENT_TRIGGERS if key in rules]
    profiled: set[int] = set()
    for event in events:
        customer = facts.customers.get(event.customer_id)
        if customer is None:
            continue
        if customer.id not in profiled:
            profiled.add(customer.id)
            for rule, trigger in profile:
                if "once" in ledger.tally(customer.id, rule.key).scopes:
                    continue
                reason = trigger(rule, customer)
                if reason is not None:
                    ledger.award(rule, customer.id, "once", event, event.occurred_at, reason)
        for rule, trigger in triggers:
            hit = trigger(rule, event, facts, customer, ledger.tally(customer.id, rule.key))
            if hit is not None:
                ledger.award(rule, customer.id, hit.scope, event, event.occurred_at, hit.reason)
        facts.observe(event)
