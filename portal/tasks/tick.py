"""The clock's rules, run by `flask --app wsgi tick` (with Redis, on a schedule by the workers:
see portal.tasks.schedule).

`run_tick(now)`:
- no_reply_3d (the scoring rule): a customer with no inbound activity for `days` days after
  an outbound send loses the rule's points, once per window. The window starts at the latest
  send (Delivery.created_at) after the customer's last inbound event; its ledger scope is
  "window:<that delivery's id>", so a second tick finds it paid and changes nothing, and any
  inbound event (a reply, an open, ...) ends the window; the next send starts a new one.
  Points go through the engagement ledger with the customers' rows locked as scoring locks
  them (FOR NO KEY UPDATE on PostgreSQL), so a tick and the event handler never race.
- snoozed tasks whose time has come are open again;
- e-mail and chat alerts held through quiet hours are sent once their hold ends (08:00 by
  default), and failed ones whose retry is due are sent again (portal.channels.outbox);
- the address-hash salt rotates: the period of `now` gets its salt, older salts are deleted
  (portal.tracking.address_salts), so hashes stored before can no longer be matched;
- overdue_escalation: an open task past its due time is escalated once (escalated_at set by
  one conditional UPDATE, so two ticks never notify twice): the owner's supervisor is notified
  (the owner, when they have none);
- the morning digests (reps) and the weekly ones (supervisors) due are sent, once per person
  and period however many ticks run (portal.digests.sending).

Return-visit windows (回访, the rep's follow-up call, not the customer's `return_visit` scoring
rule): a callback_24h task ("24小时内回访") is due 24 h after the long read that caused it; that
is its window. The overdue escalation above is what closes it: the first tick after the 24 h
have passed with the task still open (or snoozed past it and woken) finds it overdue (due_at <
now: the inbox's "overdue" tab shows it from then on), sets escalated_at and notifies the
owner's supervisor, once. Every task rule's due time works the same way (comment_followup: one
business day).

Idempotent: running it twice at the same `now` changes nothing the second time. The caller
commits (jobs.commit), so deferred e-mails leave only after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from portal import jobs
from portal.channels import outbox
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.deals.forecast import snapshot_today
from portal.delivery import bulk
from portal.delivery.models import Delivery
from portal.digests import sending as digests
from portal.engagement.facts import INTERACTION_TYPES, interaction_filter
from portal.engagement.ledger import Ledger, refresh_scores
from portal.engagement.rules import load_rules
from portal.extensions import db
from portal.notifications.services import notify
from portal.tasks import rules as task_rules
from portal.tasks.models import Task, TaskStatus
from portal.tasks.services import customer_url
from portal.tracking import address_salts, retention
from portal.tracking.models import Event, EventType
from portal.webhooks import service as webhooks

NO_REPLY = "no_reply_3d"
# What the customer does: the scoring rules' interactions (external.* included), and reading.
INBOUND_TYPES = INTERACTION_TYPES | {EventType.PAGE_VIEWED.value}


@dataclass
class TickResult:
    penalized: int = 0  # customers that lost no_reply_3d points
    woken: int = 0  # snoozed tasks open again
    escalated: int = 0  # overdue tasks escalated
    webhooks_retried: int = 0  # webhook deliveries whose retry was due
    alerts_released: int = 0  # e-mail and chat alerts held through quiet hours, now sent
    alerts_retried: int = 0  # e-mail and chat alerts whose retry was due
    expired_events: int = 0  # raw events past PORTAL_EVENT_RETENTION_DAYS, deleted
    salts_deleted: int = 0  # address salts of past periods (PORTAL_ADDRESS_SALT_DAYS), deleted
    digests_sent: int = 0  # morning and weekly digests sent (portal.digests.sending)
    bulk_requeued: int = 0  # bulk send items whose job was lost, queued again (once each)


def run_tick(now: datetime | None = None) -> TickResult:
    now = now or utcnow()
    result = TickResult()
    result.penalized = apply_no_reply(now)
    result.woken = wake_snoozed(now)
    rule = task_rules.enabled_rule(task_rules.OVERDUE_ESCALATION)
    if rule is not None:
        result.escalated = escalate_overdue(now)
    snapshot_today(now)  # today's forecast, for forecast vs actual
    result.expired_events = retention.expire(now).events
    result.salts_deleted = address_salts.rotate(now)
    result.webhooks_retried = webhooks.retry_due(now)  # commits
    result.alerts_released = outbox.release_held(now)  # commits, then sends
    result.alerts_retried = outbox.retry_due(now)  # commits
    result.digests_sent = digests.send_due(now)  # claims and commits one person at a time
    result.bulk_requeued = bulk.requeue_stale(now)
    jobs.commit()  # the items' new jobs go out after the commit
    return result


def _is_inbound():
    return interaction_filter(INBOUND_TYPES)


def apply_no_reply(now: datetime) -> int:
    rule = load_rules().get(NO_REPLY)
    if rule is None or not rule.active:
        return 0
    cutoff = now - timedelta(days=float(rule.params.get("days", 3)))
    # Each customer's latest send, when it is older than the window.
    latest = (
        select(Delivery.customer_id, func.max(Delivery.created_at).label("at"))
        .group_by(Delivery.customer_id)
        .subquery()
    )
    windows: dict[int, tuple[int, datetime]] = {}
    for delivery_id, customer_id, at in db.session.execute(
        select(Delivery.id, Delivery.customer_id, Delivery.created_at)
        .join(
            latest,
            (latest.c.customer_id == Delivery.customer_id) & (latest.c.at == Delivery.created_at),
        )
        .where(Delivery.created_at <= cutoff)
    ):
        if customer_id not in windows or delivery_id > windows[customer_id][0]:
            windows[customer_id] = (delivery_id, at)
    if not windows:
        return 0
    # Lock the candidates as the scoring handler does, then read their last inbound event.
    ids = sorted(windows)
    locked = list(
        db.session.scalars(
            select(Customer.id)
            .where(Customer.id.in_(ids))
            .order_by(Customer.id)
            .with_for_update(of=Customer, key_share=True)
        )
    )
    inbound = dict(
        db.session.execute(
            select(Event.customer_id, func.max(Event.occurred_at))
            .where(Event.customer_id.in_(locked), _is_inbound())
            .group_by(Event.customer_id)
        ).all()
    )
    ledger = Ledger.load(locked)
    for customer_id in locked:
        delivery_id, sent_at = windows[customer_id]
        last_in = inbound.get(customer_id)
        if last_in is not None and last_in >= sent_at:
            continue  # the customer answered after the latest send: no open window
        ledger.award(
            rule,
            customer_id,
            f"window:{delivery_id}",
            None,
            now,
            {"delivery_id": delivery_id, "sent_at": sent_at.isoformat()},
        )
    changed = ledger.write()
    if changed:
        refresh_scores(changed)
    return len(changed)


def wake_snoozed(now: datetime) -> int:
    woken = db.session.execute(
        update(Task)
        .where(Task.status == TaskStatus.SNOOZED.value, Task.snoozed_until <= now)
        .values(status=TaskStatus.OPEN.value, snoozed_until=None)
        .returning(Task.id)
    ).all()
    return len(woken)


def escalate_overdue(now: datetime) -> int:
    escalated = [
        row.id
        for row in db.session.execute(
            update(Task)
            .where(
                Task.status == TaskStatus.OPEN.value,
                Task.due_at < now,
                Task.escalated_at.is_(None),
            )
            .values(escalated_at=now)
            .returning(Task.id)
        )
    ]
    if not escalated:
        return 0
    for task in db.session.scalars(select(Task).where(Task.id.in_(escalated))):
        recipient = task.owner.supervisor or task.owner
        notify(
            recipient,
            "task.overdue",
            {
                "customer": task.customer.name,
                "rule": task.rule_key,
                "owner": task.owner.name,
                "task_id": task.id,
            },
            url=customer_url(task.customer_id),
            customer_id=task.customer_id,
        )
    return len(escalated)
