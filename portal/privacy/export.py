"""Everything Portal holds about one person, on request (PIPL art. 45, GDPR art. 15 and 20):
their fields, what was sent to them, what they did (events, view sessions), their comments,
their score and the reason of every point, and the tasks about them. As JSON, and as .xlsx (a
sheet per part, text that looks like a formula escaped as portal.exchange does)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.audit import service as audit
from portal.customers.models import Customer
from portal.customers.services import get_customer
from portal.delivery.models import Comment, Delivery
from portal.engagement.models import ScoreEntry
from portal.errors import NotFound, PermissionDenied
from portal.exchange.exporting import safe
from portal.extensions import db
from portal.tasks.models import Task
from portal.tracking.models import Event, ViewSession

FIELDS = ("name", "company", "title", "email", "phone", "industry", "region")
# The parts of an export, in order, with their sheet titles.
PARTS = (
    ("customer", _l("Customer")),
    ("deliveries", _l("Materials sent")),
    ("events", _l("Events")),
    ("sessions", _l("View sessions")),
    ("comments", _l("Comments")),
    ("score_entries", _l("Score and reasons")),
    ("tasks", _l("Tasks")),
)


def exportable(by: User | None, customer_id: int) -> Customer:
    """The customer `by` may export: an admin, or the rep who owns them (None: the CLI)."""
    if by is None:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("customer not found")
        return customer
    customer = get_customer(by, customer_id)  # outside their scope: 404
    if by.role != Role.ADMIN and customer.owner_id != by.id:
        raise PermissionDenied("only an administrator or the customer's owner may export")
    return customer


def export(by: User | None, customer_id: int) -> dict[str, Any]:
    """The person's data for `by`, audited (who exported whom; the caller commits)."""
    customer = exportable(by, customer_id)
    data = person_data(customer)
    audit.record("customer.exported", customer, by=by)
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def person_data(customer: Customer) -> dict[str, Any]:
    """Every part of the export as plain JSON values."""
    cid = customer.id
    deliveries = db.session.scalars(
        select(Delivery).where(Delivery.customer_id == cid).order_by(Delivery.id)
    ).all()
    return {
        "customer": {
            "id": cid,
            **{field: getattr(customer, field) for field in FIELDS},
            "owner_email": customer.owner.email,
            "score": customer.score,
            "grade": customer.grade,
            "last_inbound_at": _iso(customer.last_inbound_at),
            "created_at": _iso(customer.created_at),
        },
        "deliveries": [
            {
                "id": d.id,
                "template": d.template.name,
                "version": d.version.number,
                "sender_email": d.sender.email,
                "message": d.message,
                "created_at": _iso(d.created_at),
                "expires_at": _iso(d.expires_at),
                "revoked_at": _iso(d.revoked_at),
                "first_opened_at": _iso(d.first_opened_at),
                "last_opened_at": _iso(d.last_opened_at),
            }
            for d in deliveries
        ],
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "delivery_id": e.delivery_id,
                "session_id": e.session_id,
                "page": e.page,
                "section": e.section,
                "duration_ms": e.duration_ms,
                "occurred_at": _iso(e.occurred_at),
                "properties": e.properties or {},
            }
            for e in db.session.scalars(
                select(Event).where(Event.customer_id == cid).order_by(Event.occurred_at, Event.id)
            )
        ],
        "sessions": [
            {
                "id": s.id,
                "delivery_id": s.delivery_id,
                "version_number": s.version_number,
                "started_at": _iso(s.started_at),
                "last_seen_at": _iso(s.last_seen_at),
                "confirmed_at": _iso(s.confirmed_at),
                "read_ms": s.credited_ms,
                "user_agent": s.user_agent,
                "ip_hash": s.ip_hash,
            }
            for s in db.session.scalars(
                select(ViewSession).where(ViewSession.customer_id == cid).order_by(ViewSession.id)
            )
        ],
        "comments": [
            {
                "id": c.id,
                "delivery_id": c.delivery_id,
                "version_number": c.version_number,
                "author": c.author_type,
                "text": c.text,
                "status": c.status,
                "created_at": _iso(c.created_at),
            }
            for c in db.session.scalars(
                select(Comment).where(Comment.customer_id == cid).order_by(Comment.id)
            )
        ],
        "score_entries": [
            {
                "rule": s.rule_key,
                "points": s.points,
                "event_id": s.event_id,
                "at": _iso(s.at),
                "reason": s.reason or {},
            }
            for s in db.session.scalars(
                select(ScoreEntry).where(ScoreEntry.customer_id == cid).order_by(ScoreEntry.id)
            )
        ],
        "tasks": [
            {
                "id": t.id,
                "rule": t.rule_key,
                "status": t.status,
                "priority": t.priority,
                "params": t.params or {},
                "reason": t.reason or {},
                "due_at": _iso(t.due_at),
                "created_at": _iso(t.created_at),
                "done_at": _iso(t.done_at),
            }
            for t in db.session.scalars(
                select(Task).where(Task.customer_id == cid).order_by(Task.id)
            )
        ],
    }


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return safe(value)


def workbook(data: dict[str, Any]) -> bytes:
    """The export as .xlsx: one sheet per part, a header row of field names."""
    from openpyxl import Workbook  # imported when used: 140 ms a process start

    book = Workbook(write_only=True)
    for key, title in PARTS:
        sheet = book.create_sheet(str(title)[:31])
        rows = data[key] if isinstance(data[key], list) else [data[key]]
        columns = list(rows[0]) if rows else []
        sheet.append(columns)
        for row in rows:
            sheet.append([_cell(row[column]) for column in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
