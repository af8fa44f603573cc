"""Notify staff in the app, and by e-mail when SMTP is configured (after the commit)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal import jobs
from portal.accounts.models import User
from portal.db_types import utcnow
from portal.extensions import db
from portal.mail import send_mail
from portal.notifications.models import Notification

# kind -> message with {placeholders} filled from Notification.params
MESSAGES = {
    "delivery.opened": lambda p: gettext(
        "%(customer)s is viewing “%(document)s” right now",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
    ),
    "delivery.forwarded": lambda p: _forwarded(p),
    "comment.created": lambda p: gettext(
        "%(customer)s commented on “%(document)s”: %(excerpt)s",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
        excerpt=p.get("excerpt", ""),
    ),
    "task.created": lambda p: gettext(
        "New task for %(customer)s: %(task)s",
        customer=p.get("customer", ""),
        task=_task_title(p),
    ),
    "task.overdue": lambda p: gettext(
        "Overdue: “%(task)s” for %(customer)s (owner %(owner)s)",
        task=_task_title(p),
        customer=p.get("customer", ""),
        owner=p.get("owner", ""),
    ),
    "grade.a": lambda p: gettext(
        "%(customer)s reached grade A (%(score)s points): exclusive service channel opened "
        "for %(owner)s",
        customer=p.get("customer", ""),
        score=p.get("score", ""),
        owner=p.get("owner", ""),
    ),
    "solution_pack.sent": lambda p: gettext(
        "%(customer)s viewed a case study: the solution pack “%(document)s” was delivered "
        "to their portal",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
    ),
}


def _forwarded(params: dict[str, Any]) -> str:
    """ "Document forwarded: …": who (when they said), on what device."""
    from portal.tracking.labels import device_label  # device labels live with tracking's

    reader = params.get("visitor") or device_label(params.get("device") or {})
    return gettext(
        "Document forwarded: “%(document)s” (sent to %(customer)s) was opened by %(reader)s",
        document=params.get("document", ""),
        customer=params.get("customer", ""),
        reader=reader,
    )


def _task_title(params: dict[str, Any]) -> str:
    from portal.tasks.rules import title_for  # the task texts live with the task rules

    return title_for(params.get("rule", ""))


def describe(notification: Notification) -> str:
    render = MESSAGES.get(notification.kind)
    return render(notification.params) if render else notification.kind


def notify(
    user: User,
    kind: str,
    params: dict[str, Any],
    *,
    url: str = "",
    customer_id: int | None = None,
    email: bool = True,
) -> Notification:
    notification = Notification(
        user_id=user.id, kind=kind, params=params, url=url, customer_id=customer_id
    )
    db.session.add(notification)
    db.session.flush()
    if email and current_app.config.get("SMTP_URL"):
        jobs.defer(email_notification, notification.id)
    return notification


def email_notification(notification_id: int) -> None:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return
    user = db.session.get(User, notification.user_id)
    if user is None or not user.active:
        return
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        text = describe(notification)
        link = current_app.config["BASE_URL"].rstrip("/") + notification.url
        send_mail(user.email, text, f"{text}\n\n{link}\n")


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def recent(user: User, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user: User) -> None:
    for notification in db.session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ):
        notification.read_at = utcnow()
