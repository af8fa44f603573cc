"""Registering webhooks, queueing payloads, and sending them.

emit(kind, data) runs inside the transaction that caused it: it writes one WebhookDelivery per
subscribed webhook and defers the send (portal.jobs), so nothing leaves before the commit. A send
POSTs the JSON body with X-Portal-Event, X-Portal-Delivery and X-Portal-Signature
(sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook's secret>), timeout 5 s, through
portal.outbound.http_client. A non-2xx answer (a 3xx too: redirects are not followed) or an error
schedules the next attempt (10 s, 30 s, 2 min, 10 min, 1 h; six attempts in all): with Redis
through RQ's enqueue_in (the worker must run its scheduler), and in every mode recorded as
next_attempt_at so `flask --app wsgi webhooks retry-due` can resend it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from portal import jobs, metrics
from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.errors import PortalError, ValidationFailed
from portal.extensions import db
from portal.outbound import addresses, http_client
from portal.webhooks.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

EVENT_KINDS = ("delivery.opened", "customer.grade_changed", "comment.created", "task.created")
BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 5
MAX_URL = 500


# --- registering ---


def validate_url(url: str) -> str:
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise ValidationFailed(
            f"the URL must be 1 to {MAX_URL} characters",
            code="bad_url_length",
            field="url",
            limit=MAX_URL,
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "only http:// and https:// URLs with a host are allowed",
            code="bad_url_scheme",
            field="url",
        )
    addresses.check_literal(parts.hostname)
    return url


def validate_events(events: list[str] | str) -> list[str]:
    items = events.split(",") if isinstance(events, str) else list(events)
    kinds = sorted({e.strip() for e in items if e.strip()})
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if not kinds or unknown:
        raise ValidationFailed(
            f"events must be some of {', '.join(EVENT_KINDS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            code="bad_events",
            field="events",
        )
    return kinds


def create_webhook(url: str, events: list[str] | str, by: User | None = None) -> Webhook:
    """A new active webhook with a fresh secret (show it once); `by` None: the CLI."""
    require_admin(by, "register webhooks")
    webhook = Webhook(
        url=validate_url(url),
        events=validate_events(events),
        secret=secrets.token_hex(32),
        active=True,
        created_by_id=by.id if by else None,
    )
    db.session.add(webhook)
    db.session.flush()
    # The secret stays out of the log: it is shown once, to the admin who made the hook.
    audit.record(
        "webhook.created", webhook, by=by, summary=webhook.url, details={"events": webhook.events}
    )
    return webhook


def list_webhooks() -> list[Webhook]:
    return list(db.session.scalars(select(Webhook).order_by(Webhook.id)))


def remove_webhook(webhook_id: int, by: User | None = None) -> bool:
    require_admin(by, "remove webhooks")
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None:
        return False
    audit.record("webhook.removed", webhook, by=by, summary=webhook.url)
    db.session.delete(webhook)
    db.session.flush()
    return True


# --- queueing ---


def emit(kind: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue data for every active webhook subscribed to kind (sent after the commit)."""
    hooks = [
        w
        for w in db.session.scalars(select(Webhook).where(Webhook.active.is_(True)))
        if kind in (w.events or [])
    ]
    if not hooks:
        return []
    now = utcnow()
    rows = []
    for webhook in hooks:
        row = WebhookDelivery(
            webhook_id=webhook.id,
            event=kind,
            payload={"event": kind, "occurred_at": now.isoformat(), "data": data},
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    for row in rows:
        jobs.defer(send_delivery, row.id, 1)
    return rows


# --- sending ---


def body_of(row: WebhookDelivery) -> bytes:
    payload = {"id": row.id, **row.payload}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The receiver's status; through the one outbound client (portal.outbound.http_client):
    every resolved address checked and connected to as checked, no redirect followed."""
    validate_url(url)  # http(s) only, checked again at send time
    return http_client.post(url, body, headers, timeout=TIMEOUT_SECONDS).status


def send_delivery(delivery_id: int, attempt: int) -> None:
    """Attempt number `attempt` of one delivery (a job; a stale or repeated call does nothing)."""
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None or row.status != "pending" or row.attempts != attempt - 1:
        return
    webhook = row.webhook
    if not webhook.active:
        row.status = "failed"
        row.last_error = "webhook deactivated"
        row.next_attempt_at = None
        return
    body = body_of(row)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Portal-Webhooks/1",
        "X-Portal-Event": row.event,
        "X-Portal-Delivery": str(row.id),
        "X-Portal-Signature": sign(webhook.secret, body),
    }
    row.attempts = attempt
    try:
        status = _post(webhook.url, body, headers)
        error = "" if 200 <= status < 300 else f"HTTP {status}"
    except PortalError as exc:  # a redirect, an inside address, an unresolvable name: retried
        status = getattr(exc, "status_code", None)
        error = f"{exc.code}: {exc.message}"[:500]
    except Exception as exc:  # network errors, timeouts, bad hosts: all retried
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    row.last_status_code = status
    row.last_error = error
    now = utcnow()
    if not error:
        row.status = "delivered"
        row.delivered_at = now
        row.next_attempt_at = None
        return
    log.warning("webhook delivery %s attempt %s failed: %s", row.id, attempt, error)
    if attempt >= MAX_ATTEMPTS:
        metrics.WEBHOOK_FAILURES.labels("failed").inc()
        row.status = "failed"
        row.next_attempt_at = None
        return
    metrics.WEBHOOK_FAILURES.labels("retry").inc()
    delay = BACKOFF[attempt - 1]
    row.next_attempt_at = now + delay
    jobs.defer_retry(send_delivery, delay, row.id, attempt + 1)


def retry_due(now: datetime | None = None) -> int:
    """Resend every pending delivery whose next attempt is due; how many were tried."""
    now = now or utcnow()
    due = list(
        db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        ).all()
    )
    for delivery_id, attempts in due:
        send_delivery(delivery_id, attempts + 1)
        jobs.commit()
    return len(due)
