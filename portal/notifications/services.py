"""Every staff alert goes through notify(), the one dispatch: it applies the person's preferences
(portal.notifications.preferences: in-app, e-mail, chat channel; quiet hours) and coalesces
repeats (one alert per coalesce_key per person, e.g. one per reading session). E-mail and chat
messages are queued in portal.channels.outbox and leave after the commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.channels import outbox
from portal.channels import services as channel_services
from portal.channels.models import ChatChannel
from portal.db_types import utcnow
from portal.extensions import db
from portal.notifications import preferences
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
    "delivery.reading_again": lambda p: gettext(
        "%(customer)s is reading “%(document)s” again",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
    ),
    "reading.long": lambda p: gettext(
        "%(customer)s has read “%(document)s” for more than 2 minutes",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
    ),
    "pricing.viewed": lambda p: gettext(
        "%(customer)s viewed the pricing in “%(document)s”",
        customer=p.get("customer", ""),
        document=p.get("document", ""),
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


CHAT_LOCALE = "zh_CN"  # chat groups are Chinese sales teams: messages are in Chinese


@dataclass
class Alert:
    """One alert to raise (notify_many): for whom, what, and its coalescing key."""

    user: User
    kind: str
    params: dict[str, Any]
    url: str = ""
    customer_id: int | None = None
    email: bool = True
    coalesce_key: str | None = None


def notify(
    user: User,
    kind: str,
    params: dict[str, Any],
    *,
    url: str = "",
    customer_id: int | None = None,
    email: bool = True,
    coalesce_key: str | None = None,
    now: datetime | None = None,
) -> Notification:
    """Raise one alert for user: the in-app note, and the e-mail and chat messages the user's
    preferences ask for (held through quiet hours). A repeat of coalesce_key for the same user
    returns the first alert and sends nothing."""
    alert = Alert(user, kind, params, url, customer_id, email, coalesce_key)
    return notify_many([alert], now=now)[0]


def notify_many(alerts: list[Alert], *, now: datetime | None = None) -> list[Notification]:
    """Raise alerts as notify() raises each, in order; the notification of each (for a
    coalesced repeat, the first one's). Set-based for the read-time drain, which raises
    hundreds per round: one look for the keys already raised, one flush, and each person's
    preferences and channels read once."""
    now = now or utcnow()
    earlier = _raised(alerts)
    people: dict[int, _Recipient] = {}
    made: list[tuple[Notification, Alert]] = []
    result: list[Notification] = []
    for alert in alerts:
        key = (alert.user.id, alert.coalesce_key)
        if alert.coalesce_key is not None and key in earlier:
            result.append(earlier[key])
            continue
        person = people.get(alert.user.id)
        if person is None:
            person = people[alert.user.id] = _Recipient(alert.user, now)
        notification = Notification(
            user_id=alert.user.id,
            kind=alert.kind,
            params=alert.params,
            url=alert.url,
            customer_id=alert.customer_id,
            in_app="app" in person.transports(alert.kind),
            coalesce_key=alert.coalesce_key,
        )
        db.session.add(notification)
        if alert.coalesce_key is not None:
            earlier[key] = notification
        made.append((notification, alert))
        result.append(notification)
    if made:
        db.session.flush()  # the ids the messages refer to
    for notification, alert in made:
        _send(notification, alert, people[alert.user.id])
    return result


def _raised(alerts: list[Alert]) -> dict[tuple[int, str], Notification]:
    """The notifications already raised under the alerts' coalescing keys, in one query."""
    keys = {(a.user.id, a.coalesce_key) for a in alerts if a.coalesce_key is not None}
    if not keys:
        return {}
    found = db.session.scalars(
        select(Notification).where(
            Notification.user_id.in_({user_id for user_id, _k in keys}),
            Notification.coalesce_key.in_({key for _u, key in keys}),
        )
    )
    return {(n.user_id, n.coalesce_key): n for n in found if (n.user_id, n.coalesce_key) in keys}


class _Recipient:
    """One person's preferences, channels and quiet hours, each read once per notify_many."""

    def __init__(self, user: User, now: datetime) -> None:
        self.user = user
        self.now = now
        self._transports: dict[str, set[str]] = {}
        self._channels: list[ChatChannel] | None = None
        self._hold: tuple[datetime | None] | None = None

    def transports(self, kind: str) -> set[str]:
        if kind not in self._transports:
            self._transports[kind] = preferences.transports_for(self.user, kind)
        return self._transports[kind]

    def channels(self) -> list[ChatChannel]:
        if self._channels is None:
            self._channels = channel_services.channels_for(self.user)
        return self._channels

    def hold(self) -> datetime | None:
        if self._hold is None:
            self._hold = (preferences.quiet_until(self.user, self.now),)
        return self._hold[0]


def _send(notification: Notification, alert: Alert, person: _Recipient) -> None:
    """The e-mail and chat messages of a new notification, as the person's preferences ask."""
    user = alert.user
    transports = person.transports(alert.kind)
    link = current_app.config["BASE_URL"].rstrip("/") + alert.url
    if "email" in transports and alert.email and current_app.config.get("SMTP_URL") and user.active:
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            text = describe(notification)
        outbox.queue(
            user_id=user.id,
            transport="email",
            title=text,
            text="",
            link=link,
            notification_id=notification.id,
            hold_until=person.hold(),
        )
    if "chat" in transports and user.active:
        targets = person.channels()
        if targets:
            with force_locale(CHAT_LOCALE):
                title = describe(notification)
            for channel in targets:
                outbox.queue(
                    user_id=user.id,
                    transport="chat",
                    channel=channel,
                    title=title,
                    text="",
                    link=link,
                    notification_id=notification.id,
                    hold_until=person.hold(),
                )


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.in_app.is_(True),
            Notification.read_at.is_(None),
        )
    )


def recent(user: User, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.in_app.is_(True))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user: User) -> None:
    for notification in db.session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ):
        notification.read_at = utcnow()
