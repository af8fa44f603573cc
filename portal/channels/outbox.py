"""Alert messages leaving Portal (chat robots and e-mail): queued in the transaction that
raised the alert, sent after the commit by the job queue, held through the recipient's quiet
hours, retried with backoff, and recorded (sent, or failed with the vendor's error code).

queue() writes an OutboxMessage: `held` with hold_until (the end of quiet hours) or `pending`
with a deferred send (portal.jobs: nothing leaves before the commit, and the request never waits
for a robot). A failed attempt (a vendor error code, a non-200, no answer) schedules the next
one (BACKOFF): with Redis through RQ's enqueue_in, and in every mode as next_attempt_at, which
`tick` resends (retry_due). `tick` also releases held messages whose time has come
(release_held). Every request goes through portal.outbound.http_client (address checks, no
redirects).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from portal import jobs, metrics
from portal.channels import secrets, vendors
from portal.channels.models import ChatChannel, OutboxMessage
from portal.db_types import utcnow
from portal.errors import PortalError
from portal.extensions import db
from portal.mail import send_mail
from portal.outbound import http_client

log = logging.getLogger(__name__)

BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 5


def queue(
    *,
    user_id: int,
    transport: str,
    title: str,
    text: str,
    link: str,
    channel: ChatChannel | None = None,
    notification_id: int | None = None,
    hold_until: datetime | None = None,
    html: str | None = None,
) -> OutboxMessage:
    """One message to send after the commit (or at hold_until, by the tick)."""
    row = OutboxMessage(
        user_id=user_id,
        notification_id=notification_id,
        transport=transport,
        channel_id=channel.id if channel else None,
        title=title[:200],
        text=text,
        html=html,
        link=link[:500],
        status="held" if hold_until else "pending",
        hold_until=hold_until,
        attempts=0,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    if not hold_until:
        jobs.defer(send_message, row.id, 1)
    return row


def _deliver_chat(row: OutboxMessage) -> vendors.Verdict:
    channel = row.channel
    if channel is None or not channel.active:
        return vendors.Verdict(False, "channel_removed", "the channel was removed or turned off")
    url = secrets.unseal(channel.url_encrypted)
    override = (current_app.config.get("CHANNEL_BASE_URLS") or {}).get(channel.kind)
    if override and current_app.config.get("TESTING"):
        url = vendors.rebase(url, override)  # tests only: a local listener stands in
    secret = secrets.unseal(channel.secret_encrypted) if channel.secret_encrypted else None
    now_ms = int(utcnow().timestamp() * 1000)
    outgoing = vendors.build(
        channel.kind, url, secret, vendors.Message(row.title, row.text, row.link), now_ms
    )
    response = http_client.post(
        outgoing.url,
        outgoing.body,
        {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Portal-Alerts/1"},
        timeout=TIMEOUT_SECONDS,
    )
    return vendors.verdict(channel.kind, response.status, response.body)


def _deliver_email(row: OutboxMessage) -> vendors.Verdict:
    from portal.accounts.models import User

    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return vendors.Verdict(False, "user_inactive", "the recipient is no longer active")
    send_mail(
        user.email,
        row.title,
        "\n\n".join(part for part in (row.title, row.text, row.link) if part) + "\n",
        row.html,
    )
    return vendors.Verdict(True)


@jobs.urgent
def send_message(message_id: int, attempt: int, now: datetime | None = None) -> None:
    """Attempt number `attempt` of one message (a job; a stale or repeated call does nothing).
    `now` (the tick's clock) times the next attempt after a failure."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.status != "pending" or row.attempts != attempt - 1:
        return
    row.attempts = attempt
    try:
        result = _deliver_chat(row) if row.transport == "chat" else _deliver_email(row)
    except PortalError as exc:  # an inside address, a redirect, an unreadable secret
        result = vendors.Verdict(False, exc.code, exc.message)
    except Exception as exc:  # no answer: refused, timeout, TLS, SMTP
        result = vendors.Verdict(False, type(exc).__name__, str(exc))
    now = now or utcnow()
    row.error_code = result.code[:40]
    row.error = result.message[:500]
    if result.ok:
        row.status = "sent"
        row.sent_at = now
        row.next_attempt_at = None
        return
    log.warning(
        "alert message %s attempt %s failed: %s %s", row.id, attempt, result.code, result.message
    )
    permanent = result.code in ("channel_removed", "user_inactive", "secret_unreadable")
    if attempt >= MAX_ATTEMPTS or permanent:
        metrics.CHANNEL_FAILURES.labels(row.transport, "failed").inc()
        row.status = "failed"
        row.next_attempt_at = None
        return
    metrics.CHANNEL_FAILURES.labels(row.transport, "retry").inc()
    delay = BACKOFF[attempt - 1]
    row.next_attempt_at = now + delay
    jobs.defer_retry(send_message, delay, row.id, attempt + 1)


def retry_due(now: datetime | None = None) -> int:
    """Resend every pending message whose next attempt is due; how many were tried."""
    now = now or utcnow()
    due = list(
        db.session.execute(
            select(OutboxMessage.id, OutboxMessage.attempts)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        ).all()
    )
    for message_id, attempts in due:
        send_message(message_id, attempts + 1, now)
        jobs.commit()
    return len(due)


def release_held(now: datetime | None = None) -> int:
    """Send the messages held through quiet hours whose hold has ended; how many.

    Each row is claimed by one conditional UPDATE (held -> pending), so two ticks at once never
    send a message twice."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "held", OutboxMessage.hold_until <= now)
            .order_by(OutboxMessage.id)
        )
    )
    released = 0
    for message_id in ids:
        claimed = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "held")
            .values(status="pending")
        ).rowcount
        if claimed:
            released += 1
            jobs.defer(send_message, message_id, 1)
    jobs.commit()
    return released
