"""The company's brand (one row) and the images it and the reps' cards show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class BrandSettings(db.Model):
    """What every customer page and delivery e-mail shows of the company (one row)."""

    __tablename__ = "brand_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(120), default="")
    # "#rrggbb", checked by portal.branding.service before it is stored (it goes into CSS).
    accent_color: Mapped[str] = mapped_column(String(7), default="")
    # brand/<sha256>.<png|jpg>: immutable, so it may be cached for long.
    logo_key: Mapped[str] = mapped_column(String(120), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
