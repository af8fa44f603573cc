"""Sends: one click, the delivery with its reading, revocation, the portal link."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.routes.api.schemas.common import Answer, Body, Flag, Int, RowId, Text, Time


class SendOptions(Body):
    """The options of a send, for one customer or many (a bulk send)."""

    version_policy: Text | None = Field(default=None, description="latest or pinned")
    allow_download: Flag = True
    expires_in_days: Int | None = Field(default=None, description="1 to 365")
    message: Text | None = None
    send_email: Flag = False
    watermark: Flag | None = Field(
        default=None,
        description="the reader's mark (customer name, company, send date; a forwarded "
        "reader's name) over the pages and on every page of the downloaded PDF; absent: on "
        "for quotes, off for other kinds",
    )
    ask_visitor: Text | None = Field(
        default=None,
        description="what a device other than the recipient's sees first: nothing (off, the "
        "default), the skippable 您是？ card (optional), or the card before the document "
        "(required)",
    )


class DeliveryInput(SendOptions):
    customer_id: RowId
    template_id: RowId | None = Field(default=None, description="the template to send")
    template_ids: list[RowId] | None = Field(
        default=None,
        description="instead of template_id: a bundle (资料包) of 1 to 10 different templates, "
        "one link opening a page that lists them; each is its own delivery (own link, opens, "
        "read time, scores) with the options below",
    )
    passcode: Text | None = Field(
        default=None,
        pattern=r"^[0-9]{4,8}$",
        description="4 to 8 digits the reader must enter before the viewer, pages, download or "
        "portal listing show anything of the document; stored hashed",
    )


class RevokeInput(Body):
    reason: Text | None = Field(default=None, description="withdrawn (the default) or leaked")


class BundleDocument(Answer):
    id: int
    template_id: int
    url: str
    qr_svg_url: str


class DeliveryCreated(Answer):
    id: int | None = Field(default=None, description="the delivery (a single send)")
    url: str = Field(description="the document's link; for a bundle, the bundle page's link")
    portal_url: str
    qr_svg_url: str | None = Field(default=None, description="a single send's QR code")
    bundle_id: int | None = Field(default=None, description="a bundle's id")
    deliveries: list[BundleDocument] | None = Field(
        default=None, description="a bundle's deliveries, in the order of template_ids"
    )


class Bundle(Answer):
    id: int
    customer_id: int
    url: str
    created_at: Time
    revoked_at: Time = None
    deliveries: list[BundleDocument]


class Device(Answer):
    kind: Literal["phone", "tablet", "desktop"] | None = None
    os: str | None = None
    browser: str | None = None
    wechat: bool | None = None


class IdentifiedAs(Answer):
    name: str | None = None
    title: str | None = None
    contact: str | None = None
    customer_id: int | None = None


class Visitor(Answer):
    id: int
    device: Device
    identified_as: IdentifiedAs | None = Field(
        description="the contact a forwarded reader was identified as (their 您是？ answer, or "
        "a rep's merge); null when unknown, and for the recipient's device"
    )
    first_seen: Time
    read_seconds: int
    forwarded: bool = Field(
        description="false: the recipient's own device (the first to confirm an open); true: "
        "another device, whose reading is not the customer's"
    )


class Delivery(Answer):
    id: int
    customer_id: int
    template_id: int
    template_name: str | None = None
    version_sent: int | None = None
    current_version: int | None = None
    version_policy: str | None = None
    sender_email: str | None = None
    message: str | None = None
    allow_download: bool | None = None
    watermark: bool | None = None
    passcode_protected: bool | None = Field(
        default=None, description="the send asks for a passcode (never given back)"
    )
    created_at: Time = None
    expires_at: Time = None
    revoked_at: Time = None
    render_status: Literal["pending", "ready", "failed"] | None = None
    email_status: Literal["queued", "sending", "sent", "not_configured", "failed"] | None = Field(
        default=None,
        description="the e-mail asked with send_email: sent only once the SMTP server accepted "
        "it; null when none was asked",
    )
    email_sent_at: Time = None
    url: str | None = None
    portal_url: str | None = None
    qr_svg_url: str | None = None
    opens: int = Field(
        description="opens confirmed by the viewer in the customer's browser (a page of the "
        "document was visible); fetches that never confirmed and staff views are not opens"
    )
    previews: int = Field(
        description="fetches of the link never confirmed as an open: link previews of chat "
        "apps, mail scanners, scripts (never scored)"
    )
    internal_views: int = Field(
        description="views by signed-in staff or with an API token (never scored, not in read "
        "time or per-page figures)"
    )
    read_seconds: int
    pages: dict[str, int]
    first_opened_at: Time = None
    last_seen_at: Time = None
    ask_visitor: Literal["off", "optional", "required"] | None = None
    visitors: list[Visitor] = Field(
        description="each device that confirmed an open, the recipient's first"
    )


class PortalLink(Answer):
    portal_url: str
    expires_at: Time
