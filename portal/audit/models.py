from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class AuditEntry(db.Model):
    """One staff action. Append-only: rows are never updated or deleted by the app.

    `actor_label` keeps the actor's e-mail (or "cli" / "system") as it was at the time, so an
    entry still reads correctly after the user is renamed or deleted (`actor_id` then nulls).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip_hash: Mapped[str] = mapped_column(String(64), default="")

    actor: Mapped[User | None] = relationship()
