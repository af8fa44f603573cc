"""How long a customer link lives, and the links customer pages derive from it.

The rep hands out *grants*: a delivery's doc link (`/d/`, as long as the delivery lives) and the
customer's portal link (`/p/`, PORTAL_LINK_DAYS, revocable and rotated by the rep). A customer
page never hands out more than the link it was opened with: the viewer's "all documents" link
and the portal page's document links are derived rows (Link.parent_id = the grant), each alive
only while its grant, the grant's delivery and its own delivery are. So revoking or expiring
delivery A ends every link A's viewer gave out, and rotating the portal link ends every
document link its page gave out: the database decides (pages on every request; downloads and
page images within one second, portal.delivery.link_cache).

Derived links point at the grant, never at another derived link, so a link's life is decided
by one query of fixed shape (the link, its delivery, its grant, the grant's delivery).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import aliased

from portal.accounts.models import User
from portal.audit import service as audit
from portal.customers.models import Customer
from portal.customers.services import get_customer
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose

_Grant = aliased(Link, name="grant_link")
_GrantDelivery = aliased(Delivery, name="grant_delivery")


class RevokeReason(enum.StrEnum):
    """Why a delivery is revoked. LEAKED (the link was forwarded or leaked) also rotates the
    customer's portal link: whoever has the document link may have the portal link too."""

    WITHDRAWN = "withdrawn"
    LEAKED = "leaked"


def parse_reason(value: object) -> RevokeReason:
    if value is None or value == "":
        return RevokeReason.WITHDRAWN
    if not isinstance(value, str) or value not in {r.value for r in RevokeReason}:
        raise ValidationFailed(
            "reason must be 'withdrawn' or 'leaked'", code="bad_reason", field="reason"
        )
    return RevokeReason(value)


def _link_id(token: str, purpose: LinkPurpose) -> int:
    value = links.unsign(token or "", purpose.value)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _with_grant(query):
    """query + the grant of Link and the grant's delivery (outer joins: a grant has none)."""
    return (
        query.add_columns(
            _Grant.revoked_at.label("grant_revoked_at"),
            _Grant.expires_at.label("grant_expires_at"),
            _GrantDelivery.revoked_at.label("grant_delivery_revoked_at"),
            _GrantDelivery.expires_at.label("grant_delivery_expires_at"),
        )
        .outerjoin(_Grant, _Grant.id == Link.parent_id)
        .outerjoin(_GrantDelivery, _GrantDelivery.id == _Grant.delivery_id)
    )


def grant_ended(row, now: datetime) -> bool:
    """Whether the grant (and its delivery) of a row from _with_grant has ended."""
    return links.ended(row.grant_revoked_at, row.grant_expires_at, now) or links.ended(
        row.grant_delivery_revoked_at, row.grant_delivery_expires_at, now
    )


def resolve_doc_link(token: str) -> tuple[Link, Delivery]:
    """The doc link and delivery a doc token opens; LinkNotFound (404) or LinkGone (410).

    Gone when the link, its delivery, its grant or the grant's delivery is revoked or expired."""
    return doc_link_by_id(_link_id(token, LinkPurpose.DOC))


def doc_link_by_id(link_id: int) -> tuple[Link, Delivery]:
    """resolve_doc_link for a link id already taken from a verified token (-1: none)."""
    query = select(Link, Delivery).outerjoin(Delivery, Delivery.id == Link.delivery_id)
    row = db.session.execute(
        _with_grant(query).where(Link.id == link_id, Link.purpose == LinkPurpose.DOC.value)
    ).first()
    if row is None:
        raise links.missing(link_id)
    if row.Delivery is None or row.Delivery.customer_id != row.Link.customer_id:
        raise links.missing(-1)
    now = utcnow()
    if (
        links.is_gone(row.Link, now)
        or links.ended(row.Delivery.revoked_at, row.Delivery.expires_at, now)
        or grant_ended(row, now)
    ):
        raise links.gone(link_id)
    return row.Link, row.Delivery


def resolve_portal_link(token: str) -> tuple[Link, Customer]:
    """The portal link and customer a portal token opens; LinkNotFound / LinkGone otherwise.

    A portal link derived from a delivery's viewer is gone with that delivery."""
    return portal_link_by_id(_link_id(token, LinkPurpose.PORTAL))


def portal_link_by_id(link_id: int) -> tuple[Link, Customer]:
    """resolve_portal_link for a link id already taken from a verified token (-1: none)."""
    query = (
        select(
            Link,
            Customer,
            Delivery.revoked_at.label("delivery_revoked_at"),
            Delivery.expires_at.label("delivery_expires_at"),
        )
        .join(Customer, Customer.id == Link.customer_id)
        .outerjoin(Delivery, Delivery.id == Link.delivery_id)
    )
    row = db.session.execute(
        _with_grant(query).where(Link.id == link_id, Link.purpose == LinkPurpose.PORTAL.value)
    ).first()
    if row is None:
        raise links.missing(link_id)
    now = utcnow()
    if (
        links.is_gone(row.Link, now)
        or links.ended(row.delivery_revoked_at, row.delivery_expires_at, now)
        or grant_ended(row, now)
    ):
        raise links.gone(link_id)
    return row.Link, row.Customer


def _derived(purpose: LinkPurpose, customer_id: int, delivery_id: int, grant_id: int) -> Link:
    link = db.session.scalar(
        select(Link)
        .where(
            Link.purpose == purpose.value,
            Link.parent_id == grant_id,
            Link.delivery_id == delivery_id,
            Link.revoked_at.is_(None),
        )
        .order_by(Link.id)
        .limit(1)
    )
    if link is None:
        link = Link(
            purpose=purpose.value,
            customer_id=customer_id,
            delivery_id=delivery_id,
            parent_id=grant_id,
        )
        db.session.add(link)
        db.session.flush()
    return link


def viewer_portal_token(doc_link: Link, delivery: Delivery) -> str:
    """The "all documents" link of a viewer opened with doc_link: a portal link alive only
    while this delivery and doc_link's grant are (created on first use; the caller commits)."""
    link = _derived(LinkPurpose.PORTAL, delivery.customer_id, delivery.id, doc_link.grant_id)
    return links.token_for(link)


def portal_doc_links(portal: Link, delivery_ids: Iterable[int]) -> dict[int, Link]:
    """The document links a portal page opened with `portal` shows, one per delivery: alive
    only while the portal link's grant is. A constant number of statements whatever the
    number of deliveries (a select; on a first visit, one executemany insert of the missing
    ones and the select again); the caller commits."""
    wanted = set(delivery_ids)
    if not wanted:
        return {}
    found = _derived_doc_links(portal.grant_id, wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        # Core executemany rather than ORM objects: the ORM inserts rows one at a time where
        # it cannot batch with RETURNING (SQLite), and the ids are read back in one select.
        db.session.execute(
            insert(Link),
            [
                {
                    "purpose": LinkPurpose.DOC.value,
                    "customer_id": portal.customer_id,
                    "delivery_id": delivery_id,
                    "parent_id": portal.grant_id,
                    "created_at": utcnow(),
                }
                for delivery_id in missing
            ],
        )
        found = _derived_doc_links(portal.grant_id, wanted)
    return found


def _derived_doc_links(grant_id: int, wanted: set[int]) -> dict[int, Link]:
    found: dict[int, Link] = {}
    rows = db.session.scalars(
        select(Link)
        .where(
            Link.parent_id == grant_id,
            Link.purpose == LinkPurpose.DOC.value,
            Link.revoked_at.is_(None),
        )
        .order_by(Link.id)
    )
    for link in rows:
        if link.delivery_id in wanted:
            found.setdefault(link.delivery_id, link)
    return found


# --- revoking and rotating the portal link --------------------------------------------------


def _end_portal_grants(customer: Customer, now: datetime) -> int:
    """Revoke the customer's live portal links (the grants, not those derived from a live
    delivery: whoever holds that delivery's link may see the portal). Their pages' document
    links end with them."""
    live = db.session.scalars(
        select(Link).where(
            Link.customer_id == customer.id,
            Link.purpose == LinkPurpose.PORTAL.value,
            Link.delivery_id.is_(None),
            Link.parent_id.is_(None),
            Link.revoked_at.is_(None),
        )
    ).all()
    for link in live:
        link.revoked_at = now
    return len(live)


def rotate_portal_link(user: User, customer_id: int) -> Link:
    """Revoke the customer's portal link and issue a new one (the rep's button, the API).

    Only staff who see the customer (the owner rep, their supervisor, an admin); NotFound
    otherwise. Audited. The old /p/ token and every document link its page gave out answer
    410 within one second (portal.delivery.link_cache); the caller commits."""
    customer = get_customer(user, customer_id)
    return rotate_for(customer, by=user, reason="revoked")


def rotate_for(
    customer: Customer, *, by: User | None, reason: str, delivery_id: int | None = None
) -> Link:
    """Rotate customer's portal link (no permission check: callers have made it)."""
    now = utcnow()
    ended_count = _end_portal_grants(customer, now)
    fresh = links.portal_link(customer)
    details: dict[str, object] = {"reason": reason, "revoked_links": ended_count}
    if delivery_id is not None:
        details["delivery_id"] = delivery_id
    audit.record(
        "portal_link.rotated",
        customer,
        by=by,
        summary=customer.name,
        details=details,
    )
    return fresh
