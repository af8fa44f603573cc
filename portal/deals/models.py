"""Deals (opportunities), their stage history, evidence, notes, approvals and forecast data.

Amounts are integers in minor units (分 / cents) of the deal's currency: `amount_minor`.
Probabilities are integer percents.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    ADVANCE = "advance"
    SEND_BACK = "send_back"
    WON = "won"
    LOST = "lost"


class NoteSource(enum.StrEnum):
    NOTE = "note"
    CHAT = "chat"


class ApprovalRole(enum.StrEnum):
    FINANCE = "finance"
    LEGAL = "legal"


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Deal(db.Model):
    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_owner_stage", "owner_id", "stage"),
        Index("ix_deals_stage_close", "stage", "expected_close"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    expected_close: Mapped[date] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(20))
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_meeting_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lost_reason: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()
    owner: Mapped[User] = relationship()


class DealStageChange(db.Model):
    """Append-only history of a deal's stages (`from_stage` is NULL on creation)."""

    __tablename__ = "deal_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")

    by: Mapped[User | None] = relationship()


class DealEvidence(db.Model):
    """What proves a deal may enter `stage`: a note, optionally with a file in object storage."""

    __tablename__ = "deal_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text, default="")
    storage_key: Mapped[str | None] = mapped_column(String(400))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()


class DealNote(db.Model):
    """A conversation note or pasted chat text; scanned for hedge words."""

    __tablename__ = "deal_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(10), default=NoteSource.NOTE.value)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship()


class StageProbability(db.Model):
    """A team's tuned probability for a stage (within the stage's range)."""

    __tablename__ = "stage_probabilities"
    __table_args__ = (UniqueConstraint("team", "stage", name="uq_stage_probabilities_team"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team: Mapped[str] = mapped_column(String(80))
    stage: Mapped[str] = mapped_column(String(20))
    probability: Mapped[int] = mapped_column()
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DealApproval(db.Model):
    """A finance or legal sign-off a large deal needs before it can be won."""

    __tablename__ = "deal_approvals"
    __table_args__ = (UniqueConstraint("deal_id", "role", name="uq_deal_approvals_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(10), default=ApprovalStatus.PENDING.value)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deal: Mapped[Deal] = relationship()
    decided_by: Mapped[User | None] = relationship()


class ForecastSnapshot(db.Model):
    """What the forecast said on `taken_on` for deals expected to close in `month`,
    at the finest grain (owner × region × currency), so a later month can be compared
    with what was really won."""

    __tablename__ = "deal_forecast_snapshots"
    __table_args__ = (
        UniqueConstraint(
            "taken_on", "month", "owner_id", "region", "currency", name="uq_forecast_snapshot"
        ),
        Index("ix_forecast_snapshots_month", "month", "taken_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_on: Mapped[date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of expected close
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team: Mapped[str] = mapped_column(String(80), default="")
    region: Mapped[str] = mapped_column(String(80), default="")
    currency: Mapped[str] = mapped_column(String(3))
    weighted_minor: Mapped[int] = mapped_column(BigInteger)
    pipeline_minor: Mapped[int] = mapped_column(BigInteger)
    deal_count: Mapped[int] = mapped_column()
