from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class LinkPurpose(enum.StrEnum):
    PORTAL = "portal"  # a customer's home: everything sent to them
    DOC = "doc"  # one delivery
    BUNDLE = "bundle"  # a 资料包: several deliveries sent together (portal.delivery.bundles)


class Link(db.Model):
    """What a signed token points at. The token carries only this row's id (and its purpose
    as the signing salt); expiry and revocation are decided here, on every request.

    A link the rep hands out (a delivery's doc link, the customer's portal link) is a *grant*
    (parent_id NULL). The links customer pages derive from it (the viewer's "all documents"
    portal link, the portal page's document links) name it as their parent and live only
    while it does, and while their own delivery does: a page never hands out more than the
    link it was opened with (portal.delivery.link_grants)."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), index=True
    )
    # A bundle link's 资料包 (portal.delivery.bundles); None for every other purpose.
    bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundles.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def grant_id(self) -> int:
        """The grant this link belongs to: its parent, or itself when it is one."""
        return self.parent_id if self.parent_id is not None else self.id


class ErasedLink(db.Model):
    """A link whose customer was erased (portal.privacy.erasure): the Link row is gone, and its
    token answers 410 (gone), not 404, as a revoked link does."""

    __tablename__ = "erased_links"

    link_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AddressSalt(db.Model):
    """The salt of network-address hashes for one period of PORTAL_ADDRESS_SALT_DAYS
    (portal.tracking.address_salts). Only the current period's row is kept: once an older row
    is deleted, the hashes made with it can no longer be matched to an address."""

    __tablename__ = "address_salts"

    # Whole periods since the Unix epoch (days // ADDRESS_SALT_DAYS): one salt per period.
    period: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    salt: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventType(enum.StrEnum):
    # A person saw the document: the viewer script in a browser confirmed its first page was
    # visible (portal.delivery.open_confirmation). The GET of /d/<token> alone is LINK_FETCHED.
    LINK_OPENED = "link.opened"
    LINK_FETCHED = "link.fetched"  # the viewer page was served; a preview until confirmed
    INTERNAL_VIEWED = "internal.viewed"  # a signed-in staff member or an API token looked
    PAGE_VIEWED = "page.viewed"
    DOC_READ = "doc.read"
    DOC_DOWNLOADED = "doc.downloaded"
    LINK_CLICKED = "link.clicked"
    PORTAL_VISITED = "portal.visited"
    # A confirmed portal visit from a device that is not the recipient's (a forwarded reader, or
    # a second device of the customer's: no cookie tells them apart): shown, never scored.
    PORTAL_OTHER_DEVICE = "portal.other_device"
    COMMENT_CREATED = "comment.created"
    REPLY_RECEIVED = "reply.received"
    FORM_SUBMITTED = "form.submitted"
    EMAIL_OPENED = "email.opened"


class Visitor(db.Model):
    """One browser (its device cookie) that confirmed an open of one delivery.

    The first is the recipient's own device (forwarded False, customer_id the delivery's
    customer); any other is a forwarded reader: its reading counts for `customer_id`, the contact
    it was identified as, and for nobody while that is None (portal.delivery.visitors)."""

    __tablename__ = "visitors"
    __table_args__ = (
        UniqueConstraint("delivery_id", "device_id", name="uq_visitors_delivery_device"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(64))
    forwarded: Mapped[bool] = mapped_column(default=False)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), default="")  # what the "您是？" card said
    title: Mapped[str] = mapped_column(String(120), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")  # phone or e-mail
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # "document forwarded"


class ViewSession(db.Model):
    """One open of one delivery, from the first page load to the last report."""

    __tablename__ = "view_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    # Whose reading this is: the recipient, an identified visitor's contact, or None (a
    # forwarded reader nobody has identified: recorded, never anyone's score).
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="SET NULL"), index=True
    )
    version_number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Wall-clock budget: credited read time never exceeds the time since the session began.
    credited_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    # When the viewer script confirmed that a page was visible (the open); None: only fetched
    # (a link preview, a scanner, a script), which is never scored and cannot report read time.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    ip_hash: Mapped[str] = mapped_column(String(64), default="")


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True
    )
    # None: a forwarded reader's event before they are identified (portal.delivery.visitors);
    # the one event path hands such events to no handler, so nothing scores them.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="SET NULL"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("view_sessions.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(40), index=True)
    page: Mapped[int | None]
    section: Mapped[str | None] = mapped_column(String(80))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    session: Mapped[ViewSession | None] = relationship()


class DeliveryReads(db.Model):
    """Rollup of one send's reading, kept by portal.tracking.rollups as events are applied:
    what content analytics needs of a send without reading its sessions or events."""

    __tablename__ = "delivery_reads"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    opens: Mapped[int] = mapped_column(default=0)  # the recipient's confirmed sessions
    previews: Mapped[int] = mapped_column(default=0)  # the recipient's unconfirmed sessions
    read_ms: Mapped[int] = mapped_column(BigInteger, default=0)  # their credited page time
    internal_views: Mapped[int] = mapped_column(default=0)  # internal.viewed events


class DeliveryPageReads(db.Model):
    """Rollup of one send's reading of one page: the recipient's credited milliseconds on it
    (page.viewed events with time); a row exists only once some time was credited."""

    __tablename__ = "delivery_page_reads"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    page: Mapped[int] = mapped_column(primary_key=True)
    read_ms: Mapped[int] = mapped_column(BigInteger, default=0)
