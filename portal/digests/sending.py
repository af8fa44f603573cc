"""Sending the digests from `tick`: once per person, kind and period, whatever the number of
workers running it.

For each person due a digest (an active rep each morning, an active supervisor each week) who
gets it somehow (the "digest" alert: e-mail by default, chat when chosen and a channel reaches
them), the tick first claims the period by INSERT … ON CONFLICT DO NOTHING on the unique
(user_id, kind, period) of digest_sends, then builds the digest and queues its messages in the
same transaction (portal.channels.outbox: sent after the commit, held through quiet hours,
retried). A second tick, at once or later, inserts nothing and sends nothing; on PostgreSQL a
concurrent INSERT waits for the first transaction and then finds its row. A worker that dies
before its commit leaves no claim, so the next tick sends. An empty digest is claimed (status
"empty") and not sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale, format_date, format_time, get_locale, gettext
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal import jobs
from portal.accounts.models import Role, User
from portal.channels import outbox
from portal.channels import services as channel_services
from portal.digests import content, periods
from portal.digests.models import DigestSend
from portal.digests.periods import Period
from portal.extensions import db
from portal.notifications import preferences
from portal.notifications.services import CHAT_LOCALE
from portal.tasks.rules import title_for

CHAT_MAX_CHARS = 3000  # WeCom takes 4,096 bytes of markdown; DingTalk and Feishu more
KINDS = {"daily": Role.REP.value, "weekly": Role.SUPERVISOR.value}


def send_due(now: datetime) -> int:
    """Send the digests due at `now` (UTC) that no tick has sent; how many were sent."""
    sent = 0
    for period in (periods.daily(now), periods.weekly(now)):
        if period is None:
            continue
        ids = list(
            db.session.scalars(
                select(User.id)
                .where(User.role == KINDS[period.kind], User.active.is_(True))
                .order_by(User.id)
            )
        )
        for user_id in ids:
            sent += _send_one(user_id, period)
            jobs.commit()
    return sent


def _claim(user_id: int, period: Period) -> bool:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed = db.session.execute(
        insert(DigestSend)
        .values(
            user_id=user_id,
            kind=period.kind,
            period=period.key,
            status="sent",
            messages=0,
            created_at=period.now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "kind", "period"])
        .returning(DigestSend.id)
    ).scalar()
    return claimed is not None


def _send_one(user_id: int, period: Period) -> int:
    user = db.session.get(User, user_id)
    transports = preferences.transports_for(user, f"digest.{period.kind}")
    email = "email" in transports and bool(current_app.config.get("SMTP_URL"))
    channels = channel_services.channels_for(user) if "chat" in transports else []
    if not email and not channels:
        return 0  # nothing reaches them: no claim, so choosing a way later still sends this one
    if not _claim(user.id, period):
        return 0
    digest = content.daily(user, period) if period.kind == "daily" else content.weekly(user, period)
    row = db.session.scalar(
        select(DigestSend).where(
            DigestSend.user_id == user.id,
            DigestSend.kind == period.kind,
            DigestSend.period == period.key,
        )
    )
    if digest.empty:
        row.status = "empty"
        return 0
    base = current_app.config["BASE_URL"].rstrip("/")
    hold = preferences.quiet_until(user, period.now)
    context = {
        "digest": digest,
        "user": user,
        "base": base,
        "link": base + "/",
        "title_for": title_for,
        "format_date": format_date,
        "format_time": format_time,
    }
    if email:
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            subject = _subject(period)
            outbox.queue(
                user_id=user.id,
                transport="email",
                title=subject,
                text=_render(period, "txt", context, subject, chat=False),
                html=_render(period, "html", context, subject, chat=False),
                link=context["link"],
                hold_until=hold,
            )
        row.messages += 1
    if channels:
        with force_locale(CHAT_LOCALE):  # chat groups read Chinese
            title = _subject(period)
            text = _render(period, "txt", context, title, chat=True)[:CHAT_MAX_CHARS]
        for channel in channels:
            outbox.queue(
                user_id=user.id,
                transport="chat",
                channel=channel,
                title=title,
                text=text,
                link=context["link"],
                hold_until=hold,
            )
            row.messages += 1
    return 1


def _render(period: Period, ext: str, context: dict, subject: str, *, chat: bool) -> str:
    lang = "en" if get_locale().language == "en" else "zh-CN"
    return render_template(
        f"email/digest_{period.kind}.{ext}", subject=subject, chat=chat, lang=lang, **context
    ).strip()


def _subject(period: Period) -> str:
    if period.kind == "daily":
        return gettext("Your morning digest, %(day)s", day=format_date(period.day, "medium"))
    week_start = period.day - timedelta(days=7)
    return gettext("Your team's week from %(day)s", day=format_date(week_start, "medium"))
