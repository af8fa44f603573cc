from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class ChatChannel(db.Model):
    """A group robot's webhook: a team's (team set) or one staff member's (user_id set).

    The webhook URL carries the robot's key or token, so it is stored encrypted like the
    signing secret (portal.channels.secrets); url_hint is what a page may show of it."""

    __tablename__ = "chat_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # wecom | dingtalk | feishu
    name: Mapped[str] = mapped_column(String(80), default="")
    url_encrypted: Mapped[str] = mapped_column(Text)
    url_hint: Mapped[str] = mapped_column(String(200), default="")
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(String(80), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class OutboxMessage(db.Model):
    """One alert for one person by one transport (chat: to one channel; email), and how
    sending it went: held (quiet hours) | pending | sent | failed."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    transport: Mapped[str] = mapped_column(String(10))  # chat | email
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_channels.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # An e-mail's HTML part, rendered when queued (digests); None: text only.
    html: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str] = mapped_column(String(40), default="")  # the vendor's errcode/code
    error: Mapped[str] = mapped_column(String(500), default="")
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    channel: Mapped[ChatChannel | None] = relationship()
