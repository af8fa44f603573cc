"""Signed customer links. One salt per purpose; the token carries only the Link row's id.

Expiry and revocation live on the row, so they take effect within one second (at once for
pages; downloads and page images may come from portal.delivery.link_cache). An unknown or
tampered token and a gone one do the same work (a signature check and one query), so timing
tells an attacker nothing. (A genuine token this process has verified before skips the
signature check: that tells nothing to anyone who does not already hold the token.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.errors import PortalError
from portal.extensions import db
from portal.tracking.models import ErasedLink, Link, LinkPurpose


class LinkNotFound(PortalError):
    status = 404
    code = "link_not_found"


class LinkGone(PortalError):
    status = 410
    code = "link_gone"


@lru_cache(maxsize=64)
def _serializer_for(secret: str, salt: str) -> URLSafeTimedSerializer:
    # One per key and purpose: building one derives the signing key again.
    return URLSafeTimedSerializer(secret, salt=salt)


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"], salt)


def sign(value: int | str, salt: str) -> str:
    """A URL-safe token carrying value, valid only for salt (its purpose)."""
    return _serializer(salt).dumps(value)


def unsign(token: str, salt: str) -> int | str | None:
    try:
        return _verified(current_app.config["SECRET_KEY"], salt, token)
    except BadSignature:
        return None


@lru_cache(maxsize=8192)
def _verified(secret: str, salt: str, token: str) -> int | str:
    """The value of a token with a good signature; BadSignature otherwise.

    One open asks for the viewer, each page image and the download with the same token, so a
    verified signature is remembered per process (it depends on the token and key alone; the
    link's state is looked up on every request). Only good tokens are kept: an exception is
    never cached, so a forged or random token pays the full check every time."""
    return _serializer_for(secret, salt).loads(token)


def token_for(link: Link) -> str:
    return sign(link.id, link.purpose)


def resolve(token: str, purpose: LinkPurpose) -> Link:
    """The live Link behind token; LinkNotFound (404) or LinkGone (410) otherwise."""
    link_id = unsign(token, purpose.value)
    if not isinstance(link_id, int):
        link_id = -1  # still query: same work as for a real token
    link = db.session.scalar(select(Link).where(Link.id == link_id, Link.purpose == purpose.value))
    if link is None:
        raise missing(link_id)
    if is_gone(link):
        raise gone(link_id)
    return link


def missing(link_id: object) -> PortalError:
    """The error for a link id with no Link row: LinkGone (410) when its customer was erased
    (the row went with them), LinkNotFound (404) otherwise."""
    if _erased(link_id):
        return LinkGone("link expired or revoked")
    return LinkNotFound("link not found")


def gone(link_id: object) -> PortalError:
    """LinkGone for a revoked or expired link, after the same work as missing() does: an
    unknown, an erased and a revoked link take the same time."""
    _erased(link_id)
    return LinkGone("link expired or revoked")


def _erased(link_id: object) -> bool:
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        link_id = -1  # still query: same work as for a real id
    found = db.session.scalar(select(ErasedLink.link_id).where(ErasedLink.link_id == link_id))
    return found is not None


def ended(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """Revoked, or past its expiry: the one rule for links and deliveries alike."""
    return revoked_at is not None or (expires_at is not None and expires_at <= now)


def is_gone(link: Link, now: datetime | None = None) -> bool:
    return ended(link.revoked_at, link.expires_at, now or utcnow())


def portal_link(customer: Customer, *, handed_out: bool = False) -> Link:
    """The customer's live portal link (the grant the rep shares), created on first use.

    It expires PORTAL_LINK_DAYS after it was issued, or after it was last handed out
    (handed_out: a send carries it), so a link in circulation stays good while the rep keeps
    using it and a forgotten one dies. Links derived from deliveries are not this one."""
    now = utcnow()
    lifetime = timedelta(days=current_app.config.get("PORTAL_LINK_DAYS", 90))
    link = db.session.scalar(
        select(Link)
        .where(
            Link.customer_id == customer.id,
            Link.purpose == LinkPurpose.PORTAL.value,
            Link.delivery_id.is_(None),
            Link.parent_id.is_(None),
            Link.revoked_at.is_(None),
        )
        .order_by(Link.id.desc())
        .limit(1)
    )
    if link is None or is_gone(link, now):
        link = Link(
            purpose=LinkPurpose.PORTAL.value, customer_id=customer.id, expires_at=now + lifetime
        )
        db.session.add(link)
        db.session.flush()
    elif handed_out and link.expires_at is not None and link.expires_at < now + lifetime:
        link.expires_at = now + lifetime
    return link


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL on PORTAL_BASE_URL, for links that leave the app (chat, e-mail, QR).

    Built from BASE_URL alone, so it is the same inside a request, an RQ job or the CLI (none
    of which needs SERVER_NAME) and never follows a request's Host header.
    """
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc or "localhost",
        script_name=base.path.rstrip("/") or "/",
        url_scheme=base.scheme or "https",
    )
    return adapter.build(endpoint, values, force_external=True)
