from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Rendered in the reader's language at display time (portal.notifications.services).
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    url: Mapped[str] = mapped_column(String(400), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # False: the person chose not to see this alert in the app (it may still go by e-mail or
    # chat); the row stays as the record that the alert was raised (and for coalescing).
    in_app: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Repeats with the same key for the same person are one alert (e.g. one per reading session).
    coalesce_key: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (
        sa.UniqueConstraint("user_id", "coalesce_key", name="uq_notifications_user_coalesce"),
    )


class NotificationPreference(db.Model):
    """One person's choices: per alert, which of in-app / e-mail / chat (`choices`: alert key ->
    list of transports; an alert not in it has the defaults), and quiet hours (local times)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    choices: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    quiet_enabled: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[str] = mapped_column(String(5), default="22:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
