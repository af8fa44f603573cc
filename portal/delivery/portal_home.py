"""A customer's portal home: everything any rep has sent them, newest first.

Built in a constant number of queries whatever the number of deliveries: the deliveries with
their templates and senders, the templates' versions, the doc links (plus one batched insert
of the missing ones on a first visit) and the comments are each loaded in one statement, and
the doc tokens are signed in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery import link_grants, passcodes, portal_visits
from portal.delivery.comments import comments_for
from portal.delivery.models import Comment, Delivery
from portal.delivery.services import current_version
from portal.delivery.viewer import delivery_is_gone
from portal.extensions import db
from portal.library.models import Template, TemplateVersion
from portal.tracking import links
from portal.tracking.models import Link

NEW = "new"  # never opened
UPDATED = "updated"  # a newer version than the one the customer last looked at


@dataclass
class VersionChange:
    number: int
    changelog: str
    published_at: datetime | None


@dataclass
class PortalItem:
    delivery: Delivery
    version: TemplateVersion
    status: str | None  # NEW, UPDATED or None
    changes: list[VersionChange]  # newest first, the versions the customer has not seen
    available: bool  # False: expired (revoked deliveries are not listed at all)
    doc_token: str | None
    comments: list[Comment] = field(default_factory=list)
    # The send has a passcode this browser has not entered: listed with no title, message,
    # changes or comments, only a way to the viewer's passcode page (portal.delivery.passcodes).
    locked: bool = False

    @property
    def id(self) -> int:
        return self.delivery.id

    @property
    def title(self) -> str:
        return self.delivery.template.name

    @property
    def kind(self) -> str:
        return self.delivery.template.kind

    @property
    def version_number(self) -> int:
        return self.version.number

    @property
    def sender_name(self) -> str:
        return self.delivery.sender.name

    @property
    def can_download(self) -> bool:
        return self.available and not self.locked and self.delivery.allow_download


@dataclass
class PortalPage:
    customer: Customer
    items: list[PortalItem]
    visit_token: str | None = None  # the page's script confirms the visit with it (POST /t/p)

    @property
    def updated_count(self) -> int:
        return sum(1 for item in self.items if item.status == UPDATED)

    @property
    def new_count(self) -> int:
        return sum(1 for item in self.items if item.status == NEW)


def _changes(delivery: Delivery, shown: TemplateVersion) -> tuple[str | None, list[VersionChange]]:
    seen = delivery.seen_version_number
    if seen is None:
        return NEW, []
    if shown.number <= seen:
        return None, []
    newer = [
        VersionChange(v.number, v.changelog, v.published_at)
        for v in delivery.template.versions  # newest first (the relationship's order)
        if v.published and seen < v.number <= shown.number
    ]
    return UPDATED, newer


def build_portal(customer: Customer, via: Link, grants: list[str] | None = None) -> PortalPage:
    """The portal page's data, as seen through the portal link `via`. Withdrawn deliveries
    are left out; expired ones stay listed, without a link, so the customer knows to ask for
    a new one. Document links are derived from `via`'s grant: they end with it. A delivery
    whose passcode this browser (its `grants`) has not entered is listed locked."""
    deliveries = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.customer_id == customer.id, Delivery.revoked_at.is_(None))
            .options(
                joinedload(Delivery.template).selectinload(Template.versions),
                joinedload(Delivery.sender),
            )
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        ).unique()
    )
    now = utcnow()
    doc_links = link_grants.portal_doc_links(
        via, (d.id for d in deliveries if not delivery_is_gone(d, now))
    )
    threads = comments_for(d.id for d in deliveries)
    items = []
    for delivery in deliveries:
        # Template.versions is loaded, and every version (the pinned one too) is in the
        # identity map, so neither call below queries.
        shown = current_version(delivery)
        link = doc_links.get(delivery.id)
        available = (
            link is not None
            and not links.is_gone(link, now)
            and not delivery_is_gone(delivery, now)
        )
        status, changes = _changes(delivery, shown)
        locked = passcodes.locked(delivery, grants or [])
        if locked:  # nothing of the document until its passcode is entered
            status, changes = (NEW if status == NEW else None), []
        items.append(
            PortalItem(
                delivery=delivery,
                version=shown,
                status=status if available else None,
                changes=changes if available else [],
                available=available,
                doc_token=links.token_for(link) if available and link else None,
                comments=[] if locked else threads.get(delivery.id, []),
                locked=locked,
            )
        )
    return PortalPage(customer=customer, items=items)


def visit_portal(
    customer: Customer,
    *,
    via: Link,
    record: bool = True,
    staff_id: int | None = None,
    grants: list[str] | None = None,
) -> PortalPage:
    """The portal page of the portal link `via` (its document links may be created: the caller
    commits). Serving it is not a visit (portal.delivery.portal_visits): a reader's GET is a
    preview until the page's script confirms it (the page carries `visit_token`), staff's an
    internal view; record=False (robots, HEAD) records nothing."""
    page = build_portal(customer, via, grants)
    if record or staff_id is not None:
        page.visit_token = portal_visits.record_fetch(customer, via, len(page.items), staff_id)
    return page
