"""Tasks, the task rules' settings, and the solution pack of each industry."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"  # still open, hidden from the inbox until snoozed_until
    DONE = "done"


class TaskPriority(enum.StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class Task(db.Model):
    """One follow-up for a rep, made by a task rule from the events that caused it.

    At most one task per (customer, rule) is open (or snoozed) at a time: `open_marker` is 1
    until the task is done and NULL after, and (customer_id, rule_key, open_marker) is unique
    (NULLs never collide, on SQLite and PostgreSQL alike)."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("customer_id", "rule_key", "open_marker", name="uq_tasks_one_open"),
        Index("ix_tasks_owner_status_due", "owner_id", "status", "due_at"),
        Index("ix_tasks_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rule_key: Mapped[str] = mapped_column(String(40))
    # Values for the title and reason texts, rendered in the reader's language.
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    priority: Mapped[str] = mapped_column(String(10), default=TaskPriority.NORMAL.value)
    status: Mapped[str] = mapped_column(String(10), default=TaskStatus.OPEN.value)
    open_marker: Mapped[int | None] = mapped_column(default=1)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The events that caused the task (ids of portal.tracking Event rows).
    event_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)

    customer: Mapped[Customer] = relationship()
    owner: Mapped[User] = relationship()


class TaskRule(db.Model):
    """A task rule's settings (seeded by migration 0004 with portal.tasks.rules.DEFAULTS)."""

    __tablename__ = "task_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SolutionPack(db.Model):
    """The template case_study_push delivers to a customer of this industry."""

    __tablename__ = "solution_packs"

    id: Mapped[int] = mapped_column(primary_key=True)
    industry: Mapped[str] = mapped_column(String(80), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
