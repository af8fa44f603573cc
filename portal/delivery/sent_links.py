"""What a rep is given back for one delivery: its personal links (document, portal home, QR).

Apart from portal.delivery.services so that the e-mail job (portal.delivery.email), which
sends these links, and the send service, which defers that job, do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.delivery.models import Bundle, Delivery
from portal.errors import NotFound
from portal.extensions import db
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose


@dataclass
class Sent:
    delivery: Delivery
    url: str  # the personal document link
    portal_url: str  # the customer's portal home
    qr_svg_url: str


def sent_view(delivery: Delivery, doc_link: Link | None = None) -> Sent:
    doc_link = doc_link or doc_link_of(delivery)
    token = links.token_for(doc_link)
    portal_token = links.token_for(links.portal_link(delivery.customer))
    return Sent(
        delivery=delivery,
        url=links.external_url("customer.viewer", token=token),
        portal_url=links.external_url("customer.portal_home", token=portal_token),
        qr_svg_url=links.external_url("customer.qr_svg", token=token),
    )


def doc_link_of(delivery: Delivery) -> Link:
    link = db.session.scalar(
        select(Link)
        .where(
            Link.delivery_id == delivery.id,
            Link.purpose == LinkPurpose.DOC.value,
            Link.parent_id.is_(None),  # the link the rep sent, not one a page derived
        )
        .order_by(Link.id)
        .limit(1)
    )
    if link is None:
        raise NotFound("delivery has no link")
    return link


def bundle_link_of(bundle: Bundle) -> Link:
    """The link a bundle (资料包) was sent with (portal.delivery.bundles)."""
    link = db.session.scalar(
        select(Link)
        .where(Link.bundle_id == bundle.id, Link.purpose == LinkPurpose.BUNDLE.value)
        .order_by(Link.id)
        .limit(1)
    )
    if link is None:
        raise NotFound("bundle has no link")
    return link


def bundle_url(link: Link) -> str:
    return links.external_url("customer.bundle", token=links.token_for(link))
