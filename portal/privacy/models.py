"""What an erasure leaves behind (no personal data), and the privacy statement's settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class Erasure(db.Model):
    """One person erased: who asked (by id), when, and the anonymous counts that analytics
    keep (sends, opens, read time, points per rule). Never a name, an address or a text."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The erased customer's former id (no foreign key: the row is gone).
    customer_id: Mapped[int] = mapped_column(index=True)
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PrivacySettings(db.Model):
    """The company's privacy statement, linked from every customer page (one row)."""

    __tablename__ = "privacy_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_url: Mapped[str] = mapped_column(String(500), default="")
    statement_text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
