"""What a chat shows when a customer link is pasted in it: a card with the document's title,
the sender's company and a thumbnail of page 1 (OpenGraph/Twitter meta on the page).

The card carries nothing about the customer: the title is the template's name, the
description names the company and the rep, and the thumbnail is page 1 rendered with Portal's
sample data (portal.library.rendering.sample_variables), never the customer's copy, so a
personalised cover page never puts the customer's name in a chat's preview.

The thumbnail's URL is signed for this purpose alone (salt "thumb"), names the link it belongs
to, and dies with it (revoked or expired: 410). Chat apps fetch it from their own servers, so
fetching it is a preview of nothing: it records no event, no open, no points.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from portal.db_types import utcnow
from portal.delivery import link_grants
from portal.delivery.models import Delivery
from portal.delivery.services import current_version
from portal.errors import NotFound
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.library.rendering import render_version_page_png
from portal.library.rendering.variables import business_date, sample_variables
from portal.library.storage import get_storage, node_cache
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose

THUMB_SALT = "thumb"
THUMB_WIDTH = 600
THUMB_PREFIX = "thumbs"
_KINDS = {LinkPurpose.DOC.value: "d", LinkPurpose.PORTAL.value: "p"}


@dataclass(frozen=True)
class ShareCard:
    title: str
    description: str
    image_url: str | None  # absolute; None when there is nothing to show yet


def thumbnail_token(link: Link) -> str:
    return links.sign([_KINDS[link.purpose], link.id], THUMB_SALT)


def thumbnail_url(link: Link) -> str:
    return links.external_url("customer.thumbnail", token=thumbnail_token(link))


def card(
    link: Link, title: str, company: str, sender_name: str, *, with_image: bool = True
) -> ShareCard:
    """The card of a link (doc or portal) whose page is being rendered; `with_image=False` for
    a passcode-protected send, whose page 1 is shown to nobody who has not entered it."""
    if company and sender_name:
        description = f"{company} · {sender_name}"
    else:
        description = company or sender_name
    image_url = thumbnail_url(link) if with_image else None
    return ShareCard(title=title, description=description, image_url=image_url)


def _newest_live_delivery(customer_id: int) -> Delivery | None:
    now = utcnow()
    candidates = db.session.scalars(
        select(Delivery)
        .where(
            Delivery.customer_id == customer_id,
            Delivery.revoked_at.is_(None),
            # a passcode-protected send's page 1 is for those who entered its passcode
            Delivery.passcode_hash.is_(None),
        )
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(20)
    )
    return next((d for d in candidates if not links.ended(None, d.expires_at, now)), None)


def resolve_thumbnail(token: str) -> TemplateVersion:
    """The version whose page 1 a thumbnail token shows; LinkNotFound (404) for a forged or
    unknown token, LinkGone (410) when its link has ended, NotFound with nothing to show."""
    value = links.unsign(token or "", THUMB_SALT)
    kind, link_id = value if isinstance(value, list) and len(value) == 2 else ("", -1)
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        link_id = -1
    if kind == "p":
        _link, customer = link_grants.portal_link_by_id(link_id)
        delivery = _newest_live_delivery(customer.id)
    else:  # "d", or a forged token: still one look-up (the same work)
        _link, delivery = link_grants.doc_link_by_id(link_id if kind == "d" else -1)
    if delivery is None or delivery.passcode_hash is not None:
        raise NotFound("nothing to show")  # (a chat's preview never reveals a locked document)
    return current_version(delivery)


def _thumbnail_key(version: TemplateVersion) -> str:
    return f"{THUMB_PREFIX}/{version.sha256}.jpg"


def thumbnail_file(token: str) -> Path:
    """Page 1 of the link's document, rendered with sample data, as a JPEG THUMB_WIDTH wide on
    this node's disk: made once per version (storage, then the node cache)."""
    version = resolve_thumbnail(token)
    key = _thumbnail_key(version)
    path = node_cache.local_path(key)
    if path is not None:
        return path
    # The sample's date is the version's: the same bytes every time for this key.
    variables = sample_variables(today=business_date(version.created_at))
    try:
        png = render_version_page_png(version, variables, 1)
    except ValueError as exc:
        raise NotFound("the document has no page to show") from exc
    with Image.open(io.BytesIO(png)) as page:
        image = page.convert("RGB")
    if image.width > THUMB_WIDTH:
        image = image.resize((THUMB_WIDTH, round(image.height * THUMB_WIDTH / image.width)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    get_storage().put(key, out.getvalue(), "image/jpeg")
    node_cache.remember(key, out.getvalue())
    path = node_cache.local_path(key)
    if path is None:
        raise NotFound("the thumbnail could not be stored")
    return path
