"""The event-driven task rules: run on every batch of stored events (portal.tracking.events),
and on grade changes (portal.engagement.scoring), in the same transaction (both declared, in
order, in portal/event_handlers.py).

- callback_24h: a view session's read time crosses min_seconds in this batch -> a task due
  +due_hours for the owner.
- case_study_push: a `case_study` document opened or a `case` link clicked -> the solution pack
  of the customer's industry is sent to their portal on behalf of the owner (rendering is
  deferred by the send), the supervisor is notified, and the owner gets a follow-up task.
- comment_followup: a customer comment -> "reply to the comment", due +1 business day.
- grade_a: the grade becomes A -> a high-priority task for the owner, the supervisor notified.

Every rule opens at most one task per (customer, rule) (portal.tasks.services.open_task); the
pack is sent only together with a newly opened task, and never twice to one customer.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery.models import Comment, Delivery
from portal.engagement.facts import session_facts
from portal.engagement.ledger import GradeChange
from portal.errors import PortalError
from portal.extensions import db
from portal.library.models import Template
from portal.notifications.services import notify
from portal.tasks import rules
from portal.tasks.models import SolutionPack
from portal.tasks.services import add_business_days, customer_url, open_task
from portal.tracking.events import RecordedEvent
from portal.tracking.models import Event, EventType

log = logging.getLogger(__name__)


def task_rules_on_events(recorded: list[RecordedEvent]) -> None:
    relevant = [
        r.event
        for r in recorded
        if r.event.type
        in (
            EventType.PAGE_VIEWED,
            EventType.LINK_OPENED,
            EventType.LINK_CLICKED,
            EventType.COMMENT_CREATED,
        )
    ]
    if not relevant:
        return
    config = rules.load_task_rules()
    customers = {
        c.id: c
        for c in db.session.scalars(
            select(Customer).where(Customer.id.in_({e.customer_id for e in relevant}))
        )
    }
    if config[rules.CALLBACK_24H].enabled:
        first_id = min(r.event.id for r in recorded)
        _callback_24h(config[rules.CALLBACK_24H], relevant, customers, first_id)
    if config[rules.CASE_STUDY_PUSH].enabled:
        _case_study_push(config[rules.CASE_STUDY_PUSH], relevant, customers)
    if config[rules.COMMENT_FOLLOWUP].enabled:
        _comment_followup(config[rules.COMMENT_FOLLOWUP], relevant, customers)


def _callback_24h(rule, events: list[Event], customers: dict[int, Customer], first_id: int) -> None:
    reads = [e for e in events if e.type == EventType.PAGE_VIEWED and e.session_id]
    if not reads:
        return
    threshold = float(rule.params.get("min_seconds", 120)) * 1000
    # Read before the round: the facts scoring and the reading alerts read (the round's memo)
    sessions = session_facts(reads, first_id)
    in_batch: dict[int, int] = {}
    for event in reads:
        in_batch[event.session_id] = in_batch.get(event.session_id, 0) + int(event.duration_ms or 0)
    for session_id, facts in sessions.items():
        before = facts.read_ms
        total = before + in_batch.get(session_id, 0)
        if not (before <= threshold < total):
            continue  # crossed the line earlier (already handled) or not yet
        mine = [e for e in reads if e.session_id == session_id]
        last = mine[-1]
        customer = customers.get(last.customer_id)
        if customer is None:
            continue
        delivery = db.session.get(Delivery, last.delivery_id) if last.delivery_id else None
        open_task(
            customer,
            rules.CALLBACK_24H,
            due_at=last.occurred_at + timedelta(hours=float(rule.params.get("due_hours", 24))),
            reason={
                "session_id": session_id,
                "delivery_id": last.delivery_id,
                "document": delivery.template.name if delivery else "",
                "read_seconds": int(total) // 1000,
            },
            event_ids=[e.id for e in mine][-5:],
            now=last.occurred_at,
        )


def _case_study_push(rule, events: list[Event], customers: dict[int, Customer]) -> None:
    kinds = set(rule.params.get("kinds") or [])
    tags = set(rule.params.get("tags") or [])
    opened = [e for e in events if e.type == EventType.LINK_OPENED and e.delivery_id]
    kind_of = {}
    if opened:
        kind_of = dict(
            db.session.execute(
                select(Delivery.id, Template.kind)
                .join(Template, Template.id == Delivery.template_id)
                .where(Delivery.id.in_({e.delivery_id for e in opened}))
            ).all()
        )
    for event in events:
        hit = (event.type == EventType.LINK_OPENED and kind_of.get(event.delivery_id) in kinds) or (
            event.type == EventType.LINK_CLICKED
            and (event.properties or {}).get("content_tag") in tags
        )
        customer = customers.get(event.customer_id)
        if hit and customer is not None:
            _push_pack(rule, customer, event)


def _push_pack(rule, customer: Customer, event: Event) -> None:
    from portal.delivery.services import SendRequest, send

    industry = (customer.industry or "").strip()
    pack = (
        db.session.scalar(select(SolutionPack).where(SolutionPack.industry == industry))
        if industry
        else None
    )
    reason = {"industry": industry, "delivery_id": event.delivery_id}
    if pack is not None:
        reason["pack"] = db.session.get(Template, pack.template_id).name
        reason["template_id"] = pack.template_id
    task = open_task(
        customer,
        rules.CASE_STUDY_PUSH,
        due_at=event.occurred_at + timedelta(hours=float(rule.params.get("due_hours", 24))),
        reason=reason,
        event_ids=[event.id],
        now=event.occurred_at,
    )
    if task is None or pack is None:
        return
    already = db.session.scalar(
        select(Delivery.id).where(
            Delivery.customer_id == customer.id,
            Delivery.template_id == pack.template_id,
            Delivery.revoked_at.is_(None),
        )
    )
    if already is None:
        try:
            with db.session.begin_nested():
                sent = send(
                    customer.owner,
                    SendRequest(
                        customer_id=customer.id,
                        template_id=pack.template_id,
                        version_policy="latest",
                        message="",
                    ),
                )
            task.reason = {**reason, "sent_delivery_id": sent.delivery.id}
        except PortalError as exc:  # the owner may not send it (visibility): task says why
            log.warning("solution pack %s not sent to %s: %s", pack.id, customer.id, exc)
            task.reason = {**reason, "send_error": exc.message}
            return
    supervisor = customer.owner.supervisor
    if supervisor is not None:
        notify(
            supervisor,
            "solution_pack.sent",
            {"customer": customer.name, "industry": industry, "document": reason["pack"]},
            url=customer_url(customer.id),
            customer_id=customer.id,
        )


def _comment_followup(rule, events: list[Event], customers: dict[int, Customer]) -> None:
    for event in events:
        if event.type != EventType.COMMENT_CREATED:
            continue
        customer = customers.get(event.customer_id)
        if customer is None:
            continue
        comment_id = (event.properties or {}).get("comment_id")
        comment = db.session.get(Comment, comment_id) if comment_id else None
        open_task(
            customer,
            rules.COMMENT_FOLLOWUP,
            due_at=add_business_days(event.occurred_at, int(rule.params.get("business_days", 1))),
            reason={
                "comment_id": comment_id,
                "delivery_id": event.delivery_id,
                "excerpt": (comment.text if comment else "")[:80],
            },
            event_ids=[event.id],
            now=event.occurred_at,
            notify_owner=False,  # the owner already hears of the comment (comment.created)
        )


def grade_a_channel(changes: list[GradeChange]) -> None:
    """Grade A opens the exclusive service channel: a priority task, the supervisor told."""
    reached = [c for c in changes if c.new == "A" and c.old != "A"]
    if not reached:
        return
    rule = rules.enabled_rule(rules.GRADE_A)
    if rule is None:
        return
    for change in reached:
        customer = db.session.get(Customer, change.customer_id)
        if customer is None:
            continue
        # The event that tipped the grade: the customer's latest (its time is the clock's).
        latest = db.session.execute(
            select(Event.id, Event.occurred_at)
            .where(Event.customer_id == customer.id)
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
        now = latest.occurred_at if latest else utcnow()
        task = open_task(
            customer,
            rules.GRADE_A,
            due_at=now + timedelta(hours=float(rule.params.get("due_hours", 4))),
            reason={"score": change.score, "old_grade": change.old},
            event_ids=[latest.id] if latest else [],
            priority="high",
            now=now,
        )
        supervisor = customer.owner.supervisor
        if task is not None and supervisor is not None:
            notify(
                supervisor,
                "grade.a",
                {"customer": customer.name, "owner": customer.owner.name, "score": change.score},
                url=customer_url(customer.id),
                customer_id=customer.id,
            )
