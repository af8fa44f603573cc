"""Opening tasks (at most one open per customer and rule), a rep's inbox, done and snooze."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.models import Role, User
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.engagement.facts import timezone
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications.services import notify
from portal.tasks.models import Task, TaskPriority, TaskStatus
from portal.tracking.models import Event
from portal.webhooks import service as webhooks

# The inbox tabs (and the API's ?status=).
TABS: Final = ("open", "due", "overdue", "snoozed", "done")
SNOOZE_DAYS: Final = 1
LIST_LIMIT: Final = 200


def customer_url(customer_id: int) -> str:
    return f"/customers/{customer_id}"


def open_task(
    customer: Customer,
    rule_key: str,
    *,
    due_at: datetime,
    reason: dict[str, Any],
    event_ids: Iterable[int] = (),
    priority: str = TaskPriority.NORMAL.value,
    now: datetime | None = None,
    notify_owner: bool = True,
) -> Task | None:
    """Open a task for the customer's owner; None when one is already open for this
    (customer, rule). The service checks first; the unique index settles a race (savepoint)."""
    if open_task_of(customer.id, rule_key) is not None:
        return None
    task = Task(
        customer_id=customer.id,
        owner_id=customer.owner_id,
        rule_key=rule_key,
        params={"customer": customer.name},
        reason=reason,
        priority=priority,
        status=TaskStatus.OPEN.value,
        open_marker=1,
        due_at=due_at,
        created_at=now or utcnow(),
        event_ids=sorted(set(event_ids)),
    )
    try:
        with db.session.begin_nested():
            db.session.add(task)
    except IntegrityError:
        return None  # another transaction opened it first
    webhooks.emit(
        "task.created",
        {
            "task_id": task.id,
            "customer_id": customer.id,
            "owner_email": customer.owner.email,
            "rule": rule_key,
            "priority": priority,
            "due_at": due_at.isoformat(),
        },
    )
    if notify_owner:
        notify(
            customer.owner,
            "task.created",
            {"customer": customer.name, "rule": rule_key},
            url="/tasks",
            customer_id=customer.id,
        )
    return task


def open_task_of(customer_id: int, rule_key: str) -> Task | None:
    return db.session.scalar(
        select(Task).where(
            Task.customer_id == customer_id, Task.rule_key == rule_key, Task.open_marker == 1
        )
    )


def add_business_days(at: datetime, days: int) -> datetime:
    """at + days working days (Saturdays and Sundays skipped, in the portal's time zone),
    at the same local time of day."""
    zone = timezone()
    local = at.astimezone(zone)
    day, left = local.date(), max(0, days)
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(
        at.tzinfo
    )


# -- the inbox ----------------------------------------------------------------------------------


def scope_of(user: User) -> ColumnElement[bool]:
    """A rep sees their own tasks, a supervisor their reps' (and their own), an admin all."""
    if user.role == Role.ADMIN:
        return Task.id.is_not(None)
    if user.role == Role.SUPERVISOR:
        team = select(User.id).where(User.supervisor_id == user.id)
        return Task.owner_id.in_(team) | (Task.owner_id == user.id)
    if user.role == Role.REP:
        return Task.owner_id == user.id
    return Task.id.is_(None)


def _tab_filter(tab: str, now: datetime) -> ColumnElement[bool]:
    if tab not in TABS:
        raise ValidationFailed(
            f"status must be one of: {', '.join(TABS)}", code="bad_status", field="status"
        )
    awake = (Task.status == TaskStatus.OPEN.value) | and_(
        Task.status == TaskStatus.SNOOZED.value, Task.snoozed_until <= now
    )
    if tab == "open":
        return awake
    if tab == "overdue":
        return awake & (Task.due_at < now)
    if tab == "due":  # due before the end of today (local time), not yet overdue
        zone = timezone()
        end = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(), zone)
        return awake & (Task.due_at >= now) & (Task.due_at < end)
    if tab == "snoozed":
        return (Task.status == TaskStatus.SNOOZED.value) & (Task.snoozed_until > now)
    return Task.status == TaskStatus.DONE.value


def list_tasks(
    user: User,
    tab: str = "open",
    *,
    owner_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    limit: int = LIST_LIMIT,
) -> list[Task]:
    """The tasks user may see in one tab: open ones by due time, done ones newest first.

    Each task comes with its customer and owner (the inbox shows both): one statement, not one
    per row."""
    now = now or utcnow()
    query = (
        select(Task)
        .options(joinedload(Task.customer, innerjoin=True), joinedload(Task.owner, innerjoin=True))
        .where(scope_of(user), _tab_filter(tab, now))
    )
    if owner_ids is not None:
        query = query.where(Task.owner_id.in_(owner_ids))
    if tab == "done":
        query = query.order_by(Task.done_at.desc(), Task.id.desc())
    else:
        query = query.order_by(Task.priority == TaskPriority.NORMAL.value, Task.due_at, Task.id)
    return list(db.session.scalars(query.limit(limit)))


def team_tasks(supervisor: User, now: datetime | None = None) -> list[Task]:
    """The supervisor's reps' open tasks (overdue first, then by due time)."""
    now = now or utcnow()
    team = list(db.session.scalars(select(User.id).where(User.supervisor_id == supervisor.id)))
    tasks = list_tasks(supervisor, "open", owner_ids=team, now=now)
    return sorted(tasks, key=lambda t: (t.due_at >= now, t.due_at, t.id))


def counts(user: User, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    return {
        tab: db.session.scalar(
            select(func.count()).select_from(Task).where(scope_of(user), _tab_filter(tab, now))
        )
        or 0
        for tab in TABS
    }


def events_of(tasks: Sequence[Task]) -> dict[int, Event]:
    """The causing events of these tasks by id (one query)."""
    ids = {event_id for task in tasks for event_id in task.event_ids or []}
    if not ids:
        return {}
    return {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_(ids)))}


def _own_task(user: User, task_id: int) -> Task:
    task = db.session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == user.id))
    if task is None:
        raise NotFound("task not found")
    return task


def complete(user: User, task_id: int, now: datetime | None = None) -> Task:
    """Mark the user's task done (done twice is done once)."""
    task = _own_task(user, task_id)
    if task.status != TaskStatus.DONE:
        task.status = TaskStatus.DONE.value
        task.done_at = now or utcnow()
        task.open_marker = None
        task.snoozed_until = None
    return task


def close_open_task(customer_id: int, rule_key: str, now: datetime | None = None) -> Task | None:
    """Mark done the customer's open (or snoozed) task of this rule, when the work it asked for
    was done elsewhere (e.g. a reply to the customer's comments); None when there was none."""
    task = open_task_of(customer_id, rule_key)
    if task is not None:
        task.status = TaskStatus.DONE.value
        task.done_at = now or utcnow()
        task.open_marker = None
        task.snoozed_until = None
    return task


def snooze(user: User, task_id: int, days: int = SNOOZE_DAYS, now: datetime | None = None) -> Task:
    """Hide the user's open task for days; it stays the open task of its rule and comes back
    by itself (and `tick` sets it open again)."""
    task = _own_task(user, task_id)
    if task.status == TaskStatus.DONE:
        raise ValidationFailed("this task is done", code="task_done")
    task.status = TaskStatus.SNOOZED.value
    task.snoozed_until = (now or utcnow()) + timedelta(days=days)
    return task


def task_json(task: Task, now: datetime | None = None) -> dict[str, Any]:
    from portal.tasks.rules import reason_for, title_for

    now = now or utcnow()

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": task.id,
        "customer_id": task.customer_id,
        "customer_name": task.customer.name,
        "owner_email": task.owner.email,
        "rule": task.rule_key,
        "title": title_for(task.rule_key),
        "reason": task.reason or {},
        "reason_text": reason_for(task.rule_key, task.reason or {}),
        "priority": task.priority,
        "status": task.status,
        "overdue": task.status != TaskStatus.DONE and task.due_at < now,
        "due_at": iso(task.due_at),
        "snoozed_until": iso(task.snoozed_until),
        "created_at": iso(task.created_at),
        "done_at": iso(task.done_at),
        "escalated_at": iso(task.escalated_at),
        "event_ids": list(task.event_ids or []),
        "url": customer_url(task.customer_id),
    }
