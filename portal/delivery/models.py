from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db
from portal.library.models import Template, TemplateVersion


class RenderStatus(enum.StrEnum):
    PENDING = "pending"  # being prepared in the background
    READY = "ready"
    FAILED = "failed"


class EmailStatus(enum.StrEnum):
    """What became of the e-mail a rep asked for with a send (None: no e-mail asked)."""

    QUEUED = "queued"  # waiting for its job
    # Claimed by the job about to hand it to SMTP (committed first): a job run again after
    # the server accepted it but before its commit finds it so and sends no second e-mail.
    SENDING = "sending"
    SENT = "sent"  # the SMTP server accepted it
    NOT_CONFIGURED = "not_configured"  # no PORTAL_SMTP_URL: written to the log, not sent
    FAILED = "failed"  # the SMTP server refused it or could not be reached


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))  # the version sent
    policy: Mapped[str] = mapped_column(String(10))  # latest | pinned
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    allow_download: Mapped[bool] = mapped_column(default=True)
    # The reader's mark on the viewer's pages and on every page of the downloaded PDF
    # (portal.delivery.watermarks); on by default for quotes (services.send).
    watermark: Mapped[bool] = mapped_column(default=False)
    # The send's passcode, hashed (portal.delivery.passcodes); None: no passcode asked.
    passcode_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    render_status: Mapped[str] = mapped_column(String(10), default=RenderStatus.PENDING)
    render_error: Mapped[str | None] = mapped_column(Text)
    email_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when SMTP accepted it
    email_status: Mapped[str | None] = mapped_column(String(20))  # EmailStatus
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The version number the customer last looked at, for "updated since you last looked".
    seen_version_number: Mapped[int | None]
    # Read time credited up to here, across all the delivery's view sessions: parallel tabs
    # share one wall clock (portal.tracking.ingest), so they never add up past real time.
    read_clock_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What a device other than the recipient's sees first (portal.delivery.visitors.AskVisitor):
    # off (nothing asked), optional or required (the "您是？" card).
    ask_visitor: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    # The bundle (资料包) this delivery was sent in, if any (portal.delivery.bundles): one send of
    # several documents, each its own delivery with its own link, opens and scores.
    bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("bundles.id", ondelete="SET NULL"), index=True
    )

    customer: Mapped[Customer] = relationship()
    template: Mapped[Template] = relationship()
    version: Mapped[TemplateVersion] = relationship()
    sender: Mapped[User] = relationship()


class Bundle(db.Model):
    """One send of several documents (资料包), opened with one link (portal.delivery.bundles).

    Its link (purpose "bundle", Link.bundle_id) carries the expiry and revocation, as every link
    does; its documents are deliveries (Delivery.bundle_id), revoked with it."""

    __tablename__ = "bundles"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[Customer] = relationship()
    sender: Mapped[User] = relationship()


class CommentAuthor(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class Comment(db.Model):
    """A revision comment on a delivery, tied to the version the customer was looking at."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    version_number: Mapped[int]
    author_type: Mapped[str] = mapped_column(String(10))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    staff: Mapped[User | None] = relationship()


class BulkItemStatus(enum.StrEnum):
    QUEUED = "queued"  # its job has not started yet
    SENDING = "sending"  # claimed by a job (bulk.send_item); stale when that job was lost
    DONE = "done"  # the delivery exists and its copy is rendered (and e-mailed, if asked)
    FAILED = "failed"  # the reason is in `error`; the rep may retry it


class BulkSend(db.Model):
    """One material sent to many customers at once (portal.delivery.bulk): one row per batch,
    one BulkSendItem per customer, each sent by its own job through services.send."""

    __tablename__ = "bulk_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    # The send options every item is sent with (services.SendRequest's fields, no passcode).
    options: Mapped[dict] = mapped_column(JSONType, default=dict)
    total: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    sender: Mapped[User] = relationship()
    template: Mapped[Template] = relationship()


class BulkSendItem(db.Model):
    __tablename__ = "bulk_send_items"
    __table_args__ = (
        UniqueConstraint("bulk_send_id", "customer_id", name="uq_bulk_send_items_customer"),
        Index("ix_bulk_send_items_status", "bulk_send_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bulk_send_id: Mapped[int] = mapped_column(ForeignKey("bulk_sends.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Set by the item's job once services.send has made the delivery (kept on a retry).
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), default=BulkItemStatus.QUEUED)
    error_code: Mapped[str | None] = mapped_column(String(60))  # the PortalError code, if one
    # The code's catalogue parameters (JSON), never an exception's text (that goes to the log).
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[Customer] = relationship()
    delivery: Mapped[Delivery | None] = relationship()


class CopyGeneration(db.Model):
    """One row counting the committed changes to what customers' copies are built from (a link,
    a delivery's send fields, a template or version, the customer's and rep's named fields).

    portal.delivery.link_cache bumps it in the transaction that makes such a change, so the
    count moves exactly when the change commits; every process reads it at most once a second
    and forgets its resolved links when it moved. Being in the database, it cannot be lost the
    way a Redis message can."""

    __tablename__ = "copy_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
