"""What each person hears, and how: per alert, in-app / e-mail / chat, and quiet hours.

ALERTS are the alerts a person can tune, each with the notification kinds that raise it.
Quiet hours (default 22:00–08:00 in PORTAL_TIMEZONE) hold e-mail and chat messages until
they end (released by `tick`); the in-app note appears at once, since it makes no noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.notifications.models import NotificationPreference

TRANSPORTS = ("app", "email", "chat")
DEFAULT_TRANSPORTS = ["app", "email", "chat"]
DEFAULT_QUIET = ("22:00", "08:00")


@dataclass(frozen=True)
class Alert:
    key: str
    label: Any  # lazy, in the reader's language
    kinds: tuple[str, ...]
    # how it may come, and how it comes until the person chooses
    transports: tuple[str, ...] = TRANSPORTS
    defaults: tuple[str, ...] = tuple(DEFAULT_TRANSPORTS)


ALERTS = (
    Alert("first_open", _l("A customer opens a document for the first time"), ("delivery.opened",)),
    Alert(
        "reading_again",
        _l("A customer reads again after 3 days or more"),
        ("delivery.reading_again",),
    ),
    Alert("long_read", _l("A customer reads for more than 2 minutes"), ("reading.long",)),
    Alert("pricing_viewed", _l("A customer views a pricing page"), ("pricing.viewed",)),
    Alert(
        "document_forwarded", _l("A document is forwarded to someone else"), ("delivery.forwarded",)
    ),
    Alert("comment", _l("A customer leaves a comment"), ("comment.created",)),
    Alert("grade_a", _l("A customer reaches grade A"), ("grade.a",)),
    Alert("task_overdue", _l("A task is overdue"), ("task.overdue",)),
    Alert("approval_needed", _l("A deal needs your approval"), ("deal.approval_requested",)),
    # A digest is a message, not a note in the app: e-mail by default, chat when chosen.
    Alert(
        "digest",
        _l("Digests: each morning (reps), each week (supervisors)"),
        ("digest.daily", "digest.weekly"),
        transports=("email", "chat"),
        defaults=("email",),
    ),
)
ALERT_KEYS = tuple(a.key for a in ALERTS)
_ALERT_OF_KIND = {kind: a.key for a in ALERTS for kind in a.kinds}
_ALERT = {a.key: a for a in ALERTS}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def alert_of(kind: str) -> str | None:
    """The tunable alert a notification kind belongs to (None: always app + e-mail)."""
    return _ALERT_OF_KIND.get(kind)


def _row(user: User) -> NotificationPreference | None:
    return db.session.get(NotificationPreference, user.id)


def transports_for(user: User, kind: str) -> set[str]:
    alert = alert_of(kind)
    if alert is None:
        return {"app", "email"}
    row = _row(user)
    chosen = (row.choices or {}).get(alert) if row else None
    allowed = _ALERT[alert].transports
    return {t for t in (_ALERT[alert].defaults if chosen is None else chosen) if t in allowed}


def get_preferences(user: User) -> dict[str, Any]:
    row = _row(user)
    choices = (row.choices or {}) if row else {}
    return {
        "alerts": {
            key: sorted(choices.get(key, _ALERT[key].defaults), key=TRANSPORTS.index)
            for key in ALERT_KEYS
        },
        "quiet_hours": {
            "enabled": row.quiet_enabled if row else True,
            "start": row.quiet_start if row else DEFAULT_QUIET[0],
            "end": row.quiet_end if row else DEFAULT_QUIET[1],
        },
    }


def _time(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValidationFailed("a time is HH:MM (00:00–23:59)", code="bad_time", field=field)
    return value


def set_preferences(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the given parts of user's preferences ({"alerts": {key: [transports]},
    "quiet_hours": {"enabled", "start", "end"}}); the result as get_preferences shows it."""
    row = _row(user)
    if row is None:
        row = NotificationPreference(
            user_id=user.id,
            choices={},
            quiet_enabled=True,
            quiet_start=DEFAULT_QUIET[0],
            quiet_end=DEFAULT_QUIET[1],
        )
        db.session.add(row)
    alerts = data.get("alerts")
    if alerts is not None:
        if not isinstance(alerts, dict):
            raise ValidationFailed(
                "alerts is an object: alert -> transports", field="alerts", code="not_an_object"
            )
        choices = dict(row.choices or {})
        for key, transports in alerts.items():
            if key not in ALERT_KEYS:
                raise ValidationFailed(f"unknown alert {key}", code="bad_alert", field="alerts")
            allowed = _ALERT[key].transports
            if not isinstance(transports, list) or any(t not in allowed for t in transports):
                raise ValidationFailed(
                    f"{key}: transports are some of {', '.join(allowed)}",
                    field="alerts",
                    code="bad_transport",
                )
            choices[key] = sorted(set(transports), key=TRANSPORTS.index)
        row.choices = choices
    quiet = data.get("quiet_hours")
    if quiet is not None:
        if not isinstance(quiet, dict):
            raise ValidationFailed(
                "quiet_hours is an object", field="quiet_hours", code="not_an_object"
            )
        if "enabled" in quiet:
            if not isinstance(quiet["enabled"], bool):
                raise ValidationFailed(
                    "enabled is true or false", field="quiet_hours", code="not_a_boolean"
                )
            row.quiet_enabled = quiet["enabled"]
        start = _time(quiet.get("start", row.quiet_start), "quiet_start")
        end = _time(quiet.get("end", row.quiet_end), "quiet_end")
        if start == end:
            raise ValidationFailed(
                "quiet hours start and end differ", code="bad_time", field="quiet_end"
            )
        row.quiet_start, row.quiet_end = start, end
    row.updated_at = utcnow()
    db.session.flush()
    return get_preferences(user)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def _parse(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def quiet_until(user: User, now: datetime | None = None) -> datetime | None:
    """When user's quiet hours end, if `now` (UTC) falls inside them; else None."""
    row = _row(user)
    enabled = row.quiet_enabled if row else True
    if not enabled:
        return None
    start = _parse(row.quiet_start if row else DEFAULT_QUIET[0])
    end = _parse(row.quiet_end if row else DEFAULT_QUIET[1])
    zone = _zone()
    local = (now or utcnow()).astimezone(zone)
    clock = local.time().replace(second=0, microsecond=0, tzinfo=None)
    # start > end: across midnight, e.g. 22:00–08:00
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(ZoneInfo("UTC"))
