"""A staff member's notification inbox: opening one marks it read and leads to its page."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.errors import NotFound
from portal.extensions import db
from portal.notifications.models import Notification


def open_notification(user: User, notification_id: int) -> Notification:
    """user's notification, now marked read; NotFound for anyone else's."""
    notification = db.session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user.id
        )
    )
    if notification is None:
        raise NotFound("notification not found")
    notification.read_at = notification.read_at or utcnow()
    return notification


def safe_target(url: str | None) -> str | None:
    """The notification's link if it is a path on this site (never another host)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url
