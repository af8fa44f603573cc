from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class DigestSend(db.Model):
    """One person's digest of one kind for one period, claimed by the tick that made it.

    The unique (user_id, kind, period) is the claim: a tick inserts the row before it builds
    the digest, in the same transaction as the messages it queues, and a second tick (another
    worker, or the same one later) finds the row and does nothing."""

    __tablename__ = "digest_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # daily | weekly
    period: Mapped[str] = mapped_column(String(12))  # 2026-12-07 | 2026-W50 (local calendar)
    # sent: messages were queued; empty: nothing to tell, nothing sent
    status: Mapped[str] = mapped_column(String(10), default="sent")
    messages: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "kind", "period", name="uq_digest_sends_user_kind_period"),
    )
