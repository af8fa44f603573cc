"""A digest's period in the local calendar (PORTAL_TIMEZONE), and the times it reports on.

The morning digest of local day D is due from PORTAL_DIGEST_HOUR (default 8:00) on D and
reports on D-1 (its readers) and D (its tasks due); its period is "D" (2026-12-07). The weekly
digest of the ISO week starting Monday M is due from M at the same hour, reports on the week
before M, and its period is the ISO week ("2026-W50"). A tick that runs later in the period
(workers were down at 8:00) still sends it, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Period:
    kind: str  # daily | weekly
    key: str  # the claim's period: 2026-12-07 | 2026-W50
    day: date  # the local day the digest is for (weekly: its Monday)
    start: datetime  # UTC: what it reports on, [start, end)
    end: datetime
    now: datetime  # UTC: the tick's clock


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def _due(local: datetime, day: date) -> bool:
    start = datetime.combine(day, time(int(current_app.config.get("DIGEST_HOUR", 8))), local.tzinfo)
    return local >= start


def daily(now: datetime) -> Period | None:
    """The morning digest due at `now` (UTC), or None before the digest hour."""
    local = now.astimezone(zone())
    today = local.date()
    if not _due(local, today):
        return None
    return Period(
        "daily",
        today.isoformat(),
        today,
        _midnight(today - timedelta(days=1)),
        _midnight(today),
        now,
    )


def weekly(now: datetime) -> Period | None:
    """The weekly digest due at `now` (UTC), or None on Monday before the digest hour."""
    local = now.astimezone(zone())
    monday = local.date() - timedelta(days=local.weekday())
    if not _due(local, monday):
        return None
    year, week, _ = monday.isocalendar()
    return Period(
        "weekly",
        f"{year}-W{week:02d}",
        monday,
        _midnight(monday - timedelta(days=7)),
        _midnight(monday),
        now,
    )


def today_bounds(period: Period) -> tuple[datetime, datetime]:
    """The local day of a morning digest, in UTC: its tasks due."""
    return _midnight(period.day), _midnight(period.day + timedelta(days=1))
