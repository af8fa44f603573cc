"""Erase one person: everything Portal holds that names them, on request (PIPL, GDPR).

What goes: the customer row and its personal fields, their sends' messages, events, view
sessions, comments, tasks, notifications, score ledger rows, deals, their sends' reading
rollups (those of sends they read as a forwarded reader are recounted without them), the
webhook payloads and audit texts that name them, and every stored file rendered for them
(personalised PDFs and page images, in storage and in every node's cache). What stays: one
`Erasure` row with anonymous counts (sends, opens, events per type, read time, points per
rule) so analytics totals keep them, and one audit entry saying who erased which customer id,
and when. Their links answer 410 from then on (`ErasedLink`), like a revoked link. Other
customers' rows are not touched.

Rows go by bulk DELETE, child tables first: SQLite does not enforce the foreign keys' ON DELETE
CASCADE, and the same order is right on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, or_, select

from portal import jobs
from portal.accounts.models import Role, User
from portal.audit import service as audit
from portal.audit.models import AuditEntry
from portal.customers.models import Customer
from portal.customers.services import get_customer
from portal.db_types import utcnow
from portal.deals import services as deal_services
from portal.deals.models import Deal, DealEvidence
from portal.delivery import link_cache, watermarks
from portal.delivery.models import BulkSendItem, Bundle, Comment, Delivery
from portal.delivery.services import variables_for
from portal.engagement.models import GradeACrossing, ScoreEntry
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.library.rendering import pdf_cache_key
from portal.library.storage import get_storage, node_cache
from portal.notifications.models import Notification
from portal.privacy.models import Erasure
from portal.tasks.models import Task
from portal.tracking import revocations, rollups
from portal.tracking.models import (
    DeliveryPageReads,
    DeliveryReads,
    ErasedLink,
    Event,
    Link,
    ViewSession,
    Visitor,
)
from portal.webhooks.models import WebhookDelivery

PDF_SOURCE = "pdf"  # an uploaded PDF is shown as it is: its renders name nobody


def find_by_email(email: str) -> Customer:
    """The one customer with this e-mail (case-insensitive); NotFound otherwise."""
    rows = db.session.scalars(
        select(Customer).where(func.lower(Customer.email) == email.strip().lower())
    ).all()
    if not rows:
        raise NotFound("customer not found")
    if len(rows) > 1:  # never guess whom to erase: use the API or the page, by id
        raise ValidationFailed(
            f"{len(rows)} customers have this e-mail: erase or export them by id",
            code="email_ambiguous",
        )
    return rows[0]


def erasable(by: User | None, customer_id: int) -> Customer:
    """The customer `by` may erase: an admin only (None: the CLI, run by the operator)."""
    if by is None:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("customer not found")
        return customer
    customer = get_customer(by, customer_id)  # outside their scope: 404, never revealed
    if by.role != Role.ADMIN:
        raise PermissionDenied("only an administrator may erase a customer")
    return customer


def erase(by: User | None, customer_id: int) -> Erasure:
    """Erase the customer (the caller commits with jobs.commit(); files go after the commit)."""
    customer = erasable(by, customer_id)
    words = [w for w in (customer.name, customer.email, customer.phone) if w and w.strip()]
    deliveries = db.session.scalars(
        select(Delivery).where(Delivery.customer_id == customer.id)
    ).all()
    delivery_ids = [d.id for d in deliveries]
    keys, prefixes = _rendered_files(deliveries)
    # Stamped downloads name their reader: the customer's own, and those of the deliveries
    # they read as an identified forwarded reader (portal.delivery.watermarks).
    read_as_visitor = db.session.scalars(
        select(Visitor.delivery_id).where(Visitor.customer_id == customer.id)
    )
    prefixes += sorted(
        {watermarks.folder(i) for i in [*(d.id for d in deliveries), *read_as_visitor]}
    )
    deal_ids = list(db.session.scalars(select(Deal.id).where(Deal.customer_id == customer.id)))
    keys += [
        key
        for key in db.session.scalars(
            select(DealEvidence.storage_key).where(DealEvidence.deal_id.in_(deal_ids))
        )
        if key
    ]
    counts = _anonymous_counts(customer.id)
    gone = [(d.id, d.created_at) for d in deliveries]

    mine = Link.customer_id == customer.id
    if delivery_ids:
        mine = or_(mine, Link.delivery_id.in_(delivery_ids))
    link_ids = list(db.session.scalars(select(Link.id).where(mine)))
    now = utcnow()
    db.session.add_all(ErasedLink(link_id=link_id, erased_at=now) for link_id in link_ids)

    # Others' sends they read as an identified forwarded reader: their rollups are recounted.
    read_elsewhere = set()
    for model in (Event, ViewSession, Visitor):
        read_elsewhere.update(
            db.session.scalars(
                select(model.delivery_id)
                .where(model.customer_id == customer.id, model.delivery_id.is_not(None))
                .distinct()
            )
        )
    read_elsewhere -= set(delivery_ids)

    by_delivery = _of(delivery_ids)
    statements = [
        delete(GradeACrossing).where(GradeACrossing.customer_id == customer.id),
        delete(ScoreEntry).where(ScoreEntry.customer_id == customer.id),
        delete(Task).where(Task.customer_id == customer.id),
        # their place in bulk sends: the batch's progress counts the items left (bulk.progress)
        delete(BulkSendItem).where(BulkSendItem.customer_id == customer.id),
        delete(Notification).where(Notification.customer_id == customer.id),
        delete(Comment).where(or_(Comment.customer_id == customer.id, by_delivery(Comment))),
        delete(Event).where(or_(Event.customer_id == customer.id, by_delivery(Event))),
        delete(ViewSession).where(
            or_(ViewSession.customer_id == customer.id, by_delivery(ViewSession))
        ),
        # the devices that read their documents (forwarded readers' names and contacts too)
        delete(Visitor).where(or_(Visitor.customer_id == customer.id, by_delivery(Visitor))),
        delete(Link).where(Link.parent_id.in_(link_ids)),
        delete(Link).where(Link.id.in_(link_ids)),
        # their sends' reading rollups (portal.tracking.rollups)
        delete(DeliveryPageReads).where(by_delivery(DeliveryPageReads)),
        delete(DeliveryReads).where(by_delivery(DeliveryReads)),
    ]
    for statement in statements:
        db.session.execute(statement.execution_options(synchronize_session=False))
    rollups.rebuild(read_elsewhere)
    deal_services.erase_for_customer(deal_ids)  # deals change only through their services
    db.session.execute(
        delete(Delivery)
        .where(Delivery.customer_id == customer.id)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(  # their bundles (资料包): ids only, gone with them
        delete(Bundle)
        .where(Bundle.customer_id == customer.id)
        .execution_options(synchronize_session=False)
    )
    _forget_mentions(customer.id, words)
    db.session.execute(delete(Customer).where(Customer.id == customer.id))
    db.session.expunge_all()  # the ORM must not flush what it held of the erased rows
    link_cache.changed_in_bulk(db.session)  # its links answer 410 at once, on every node

    erasure = Erasure(
        customer_id=customer_id,
        erased_by_id=by.id if by is not None else None,
        erased_at=now,
        counts=counts,
    )
    db.session.add(erasure)
    target = SimpleNamespace(__tablename__="customers", id=customer_id)
    audit.record("customer.erased", target, by=db.session.merge(by) if by else None)
    jobs.defer(remove_files, keys, prefixes)
    jobs.defer(revocations.mark_gone, gone)
    return erasure


def _of(delivery_ids: list[int]):
    def where(model: Any):
        return model.delivery_id.in_(delivery_ids)

    return where


def _rendered_files(deliveries: Iterable[Delivery]) -> tuple[list[str], list[str]]:
    """The storage keys of every copy rendered for these deliveries (each version of their
    templates, with the customer's variables), and the folders of their page images."""
    keys: list[str] = []
    prefixes: list[str] = []
    for delivery in deliveries:
        variables = variables_for(delivery)
        versions = db.session.scalars(
            select(TemplateVersion).where(TemplateVersion.template_id == delivery.template_id)
        )
        for version in versions:
            if version.source_type == PDF_SOURCE or not version.sha256:
                continue
            key = pdf_cache_key(version, variables)
            keys.append(key)
            prefixes.append(key.removesuffix(".pdf") + "/")
    return sorted(set(keys)), sorted(set(prefixes))


def _anonymous_counts(customer_id: int) -> dict[str, Any]:
    """What analytics keep of the person: numbers only."""
    events = db.session.execute(
        select(Event.type, func.count(), func.coalesce(func.sum(Event.duration_ms), 0))
        .where(Event.customer_id == customer_id)
        .group_by(Event.type)
    ).all()
    points = db.session.execute(
        select(ScoreEntry.rule_key, func.coalesce(func.sum(ScoreEntry.points), 0))
        .where(ScoreEntry.customer_id == customer_id)
        .group_by(ScoreEntry.rule_key)
    ).all()
    sends = db.session.scalar(select(func.count()).where(Delivery.customer_id == customer_id))
    opens = db.session.scalar(
        select(func.count()).where(
            ViewSession.customer_id == customer_id, ViewSession.confirmed_at.is_not(None)
        )
    )
    return {
        "deliveries": int(sends or 0),
        "opens": int(opens or 0),
        "events": {kind: int(n) for kind, n, _ms in events},
        "duration_ms": {kind: int(ms) for kind, _n, ms in events if ms},
        "points": {rule: int(p) for rule, p in points},
    }


def _mentions(value: Any, words: list[str]) -> bool:
    text = (
        json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    )
    folded = text.casefold()
    return any(word.casefold() in folded for word in words)


def _forget_mentions(customer_id: int, words: list[str]) -> None:
    """Webhook payloads about the customer go; audit entries keep their action, actor and time
    but lose any text that names them."""
    for row in db.session.scalars(select(WebhookDelivery)):
        payload = row.payload or {}
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        if customer_id in (payload.get("customer_id"), data.get("customer_id")) or _mentions(
            payload, words
        ):
            db.session.delete(row)
    for entry in db.session.scalars(select(AuditEntry)):
        about = entry.object_type == "customers" and entry.object_id == str(customer_id)
        if about or (
            words and (_mentions(entry.summary, words) or _mentions(entry.details, words))
        ):
            entry.summary = ""
            entry.details = {}
    db.session.flush()


def remove_files(keys: list[str], prefixes: list[str]) -> None:
    """Delete the erased person's files from storage, then from every node's cache: this
    node's at once, the others' at their next look at the purge list (a job)."""
    storage = get_storage()
    for prefix in prefixes:
        keys = [*keys, *storage.list(prefix)]
    keys = sorted(set(keys))
    for key in keys:
        storage.delete(key)
    node_cache.purge(keys, prefixes)


def anonymous_totals() -> dict[str, Any]:
    """The counts every erasure kept, added up: what analytics add to their totals so that
    erasing a person removes who they were, not that they read ("sends", "opens", events per
    type, milliseconds per type, points per rule)."""
    totals: dict[str, Any] = {
        "deliveries": 0,
        "opens": 0,
        "events": {},
        "duration_ms": {},
        "points": {},
    }
    for counts in db.session.scalars(select(Erasure.counts)):
        totals["deliveries"] += int(counts.get("deliveries", 0))
        totals["opens"] += int(counts.get("opens", 0))
        for part in ("events", "duration_ms", "points"):
            for key, value in (counts.get(part) or {}).items():
                totals[part][key] = totals[part].get(key, 0) + int(value)
    return totals


def erased_at(customer_id: int) -> datetime | None:
    return db.session.scalar(
        select(Erasure.erased_at).where(Erasure.customer_id == customer_id).limit(1)
    )
