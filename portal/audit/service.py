"""Recording staff actions, and reading them back for the admin page and the API.

`record` only adds a row to the session: the caller's transaction commits it together with the
change it describes, or rolls both back. Secrets (API tokens, webhook secrets, passwords) are
never passed in `details`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click
from flask import has_request_context, request
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.tracking.sessions import ip_hash

# Action keys, `object:verb`. The admin page labels them; unknown keys are shown as they are.
ACTIONS = (
    "template.published",
    "template.access_changed",
    "delivery.revoked",
    "bundle.revoked",
    "portal_link.rotated",
    "scoring_rule.changed",
    "keyword_rule.added",
    "keyword_rule.removed",
    "webhook.created",
    "webhook.removed",
    "channel.created",
    "channel.removed",
    "user.created",
    "user.changed",
    "api_token.created",
    "data.imported",
    "deal.changed",
    "customer.erased",
    "customer.exported",
)


def _actor_label(by: User | None) -> str:
    if by is not None:
        return by.email
    return "cli" if click.get_current_context(silent=True) is not None else "system"


def record(
    action: str,
    obj: Any,
    *,
    by: User | None,
    details: dict[str, Any] | None = None,
    summary: str = "",
) -> AuditEntry:
    """Add one entry for `action` on `obj` (a model instance with an id; None for an action on
    many rows, such as an import) by `by` (None: CLI or system) to the current transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        at=utcnow(),
        actor_id=by.id if by is not None else None,
        actor_label=_actor_label(by),
        action=action,
        object_type=(
            getattr(obj, "__tablename__", type(obj).__name__.lower()) if obj is not None else ""
        ),
        object_id=str(getattr(obj, "id", "") or ""),
        summary=summary[:500],
        details=details or {},
        ip_hash=ip_hash(request.remote_addr) if has_request_context() else "",
    )
    db.session.add(entry)
    return entry


MAX_PER_PAGE = 200
MAX_PAGE = 100_000


@dataclass
class AuditQuery:
    action: str | None = None
    actor: str | None = None  # an e-mail, or part of one (also "cli" / "system")
    since: date | None = None
    until: date | None = None  # inclusive
    page: int = 1
    per_page: int = 50

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> AuditQuery:
        """From query-string values; anything malformed is a ValidationFailed."""
        query = cls(
            action=(args.get("action") or "").strip() or None,
            actor=(args.get("actor") or "").strip().lower() or None,
            since=_date("since", args.get("since")),
            until=_date("until", args.get("until")),
            page=_whole("page", args.get("page"), 1),
            per_page=_whole("per_page", args.get("per_page"), 50),
        )
        if not 1 <= query.page <= MAX_PAGE:
            raise ValidationFailed(
                f"page must be from 1 to {MAX_PAGE}", code="bad_page", field="page", limit=MAX_PAGE
            )
        if not 1 <= query.per_page <= MAX_PER_PAGE:
            raise ValidationFailed(
                f"per_page must be from 1 to {MAX_PER_PAGE}",
                code="bad_per_page",
                field="per_page",
                limit=MAX_PER_PAGE,
            )
        return query


def _date(name: str, value: str | None) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a date as YYYY-MM-DD", code="bad_date", field=name
        ) from None


def _whole(name: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a whole number", code="not_a_whole_number", field=name
        ) from None


@dataclass
class AuditPage:
    items: list[AuditEntry]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(viewer: User, filters: AuditQuery) -> AuditPage:
    """Entries matching filters, newest first, one page of them; admins only."""
    if viewer.role != Role.ADMIN:
        raise PermissionDenied("only admins may read the audit log")
    query = select(AuditEntry)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor:
        query = query.where(func.lower(AuditEntry.actor_label).contains(filters.actor))
    if filters.since:
        query = query.where(AuditEntry.at >= datetime.combine(filters.since, time(), UTC))
    if filters.until and filters.until < date.max:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        query = query.where(AuditEntry.at < end)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset((filters.page - 1) * filters.per_page)
        .limit(filters.per_page)
    )
    return AuditPage(list(items), filters.page, filters.per_page, total)


def as_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor": entry.actor_label,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "details": entry.details or {},
    }
