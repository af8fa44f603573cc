"""The customer's side of one delivery: its links, opening it, its pages, its file.

Customers have no account: a signed link is their key. Resolving a link always does the same
work (a signature check and one query), whether the token is unknown, tampered, gone or good,
so neither the answer's timing nor its text tells anything about other links.
"""

from __future__ import annotations

import enum
import functools
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery import document_links, link_grants, passcodes, visitors, watermarks
from portal.delivery.document_links import PageLayout
from portal.delivery.models import Delivery, RenderStatus
from portal.delivery.services import (
    current_version,
    doc_link_of,
    prepare_delivery,
    variables_for,
)
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.library.content_tags import tags_of_page
from portal.library.models import TemplateVersion
from portal.library.rendering import (
    PAGE_WEBP_WIDTHS,
    pdf_cache_key,
    render_version_page_png,
    render_version_page_webp,
    render_version_pdf,
)
from portal.library.rendering.variables import business_date
from portal.library.storage import get_storage
from portal.privacy import notice as privacy_notice
from portal.tracking import events, links, sessions
from portal.tracking.models import EventType, Link, ViewSession

log = logging.getLogger(__name__)

# A delivery still "pending" this long after it was sent has lost its background job (worker
# down, queue flushed): the viewer renders it itself rather than spin forever.
PREPARE_GRACE = timedelta(seconds=30)
PAGE_IMAGE_WIDTH = 1000  # portal.library.rendering.pdf.PAGE_PNG_WIDTH
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


# Link previews, mail scanners and scripts fetch customer links too; they are not the customer
# reading. They get the same pages, but nothing is recorded and the delivery is not marked seen.
_AUTOMATED_UA = re.compile(
    r"bot\b|bot/|spider|crawl|slurp|preview|scanner|facebookexternalhit|whatsapp|telegram|"
    r"skypeuripreview|curl/|wget/|python-|httpx|go-http-client|java/|okhttp|"
    r"libwww|axios/|node-fetch|microsoft office|ms-office",
    re.IGNORECASE,
)


def is_a_reader(method: str, user_agent: str | None) -> bool:
    """Whether a request is (probably) a person reading: a GET from a browser.

    HEAD requests, an empty User-Agent and known robots (previews, scanners, scripts) are not:
    their visits are served but never recorded."""
    if method != "GET":
        return False
    agent = (user_agent or "").strip()
    return bool(agent) and not _automated(agent)


@functools.lru_cache(maxsize=1024)
def _automated(agent: str) -> bool:
    # Remembered per User-Agent: a handful of browsers make nearly all requests, and the
    # pattern's search was most of the cost of deciding whose a download is. Bounded, so a
    # client sending a new User-Agent each time only pushes out older ones.
    return _AUTOMATED_UA.search(agent) is not None


class ViewerState:
    READY = "ready"
    PREPARING = "preparing"
    FAILED = "failed"
    LOCKED = "locked"  # the send's passcode was not entered on this browser: nothing shown


# --- links --------------------------------------------------------------------------------


def delivery_is_gone(delivery: Delivery, now: datetime | None = None) -> bool:
    return links.ended(delivery.revoked_at, delivery.expires_at, now or utcnow())


def resolve_doc(token: str) -> Delivery:
    """The delivery a doc token opens; LinkNotFound (404) or LinkGone (410) otherwise.

    A revoked or expired delivery is gone even when its link row is not; a link derived from
    another (portal.delivery.link_grants) is gone with it."""
    return link_grants.resolve_doc_link(token)[1]


def resolve_readable(token: str, grants: list[str]) -> Delivery:
    """resolve_doc, and PasscodeRequired unless the browser holding grants entered the
    delivery's passcode (portal.delivery.passcodes)."""
    delivery = resolve_doc(token)
    if passcodes.locked(delivery, grants):
        raise passcodes.PasscodeRequired("this document asks for its passcode")
    return delivery


def resolve_portal(token: str) -> Customer:
    """The customer a portal token belongs to; LinkNotFound / LinkGone otherwise."""
    return link_grants.resolve_portal_link(token)[1]


# --- opening the viewer -------------------------------------------------------------------


@dataclass
class OpenedDelivery:
    delivery: Delivery
    state: str
    version: TemplateVersion | None = None
    pages: list[PageLayout] = field(default_factory=list)
    session: ViewSession | None = None
    ingest_token: str | None = None
    watermark: str | None = None  # the text laid over the pages, when the rep asked for it
    portal_token: str | None = None
    ask_visitor: str = "off"  # the "您是？" card this device gets (portal.delivery.visitors)

    @property
    def title(self) -> str:
        return self.delivery.template.name

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def image_widths(self) -> tuple[int, ...]:
        """The widths each page's WebP image comes in (the viewer's srcset)."""
        return PAGE_WEBP_WIDTHS

    def link_token(self, href: str) -> str:
        """The signed form of a link target, for this delivery's tracked redirect."""
        return document_links.sign_target(href, self.delivery.id)


def readiness(delivery: Delivery) -> str:
    """READY, PREPARING (the background render has not finished) or FAILED."""
    if delivery.render_status == RenderStatus.READY:
        return ViewerState.READY
    if delivery.render_status == RenderStatus.FAILED:
        return ViewerState.FAILED
    if _render_cached(delivery):  # rendered, but the job's status update was not saved
        delivery.render_status = RenderStatus.READY
        delivery.render_error = None
        return ViewerState.READY
    if utcnow() - delivery.created_at > PREPARE_GRACE:
        prepare_delivery(delivery.id)
        if delivery.render_status == RenderStatus.READY:
            return ViewerState.READY
        if delivery.render_status == RenderStatus.FAILED:
            return ViewerState.FAILED
    return ViewerState.PREPARING


def _render_cached(delivery: Delivery) -> bool:
    version = current_version(delivery)
    if version.source_type == "pdf":
        return True  # shown as uploaded: nothing to render
    return get_storage().exists(pdf_cache_key(version, variables_for(delivery)))


def watermark_text(delivery: Delivery, device: str | None = None) -> str | None:
    """The reader's mark over the viewer's pages (the one stamped into the download)."""
    if not delivery.watermark:
        return None
    customer = delivery.customer
    return watermarks.mark_text(
        customer.name,
        customer.company or "",
        business_date(delivery.created_at).isoformat(),
        visitors.identified_name(delivery.id, device),
    )


class Audience(enum.StrEnum):
    """Who a request of a customer link stands for (decided by the route, from the request)."""

    CUSTOMER = "customer"  # someone holding the link: a preview until the viewer confirms
    INTERNAL = "internal"  # a signed-in staff member (any role) or an API token
    ROBOT = "robot"  # HEAD, no User-Agent, a known robot: served, nothing recorded


def audience_of(method: str, user_agent: str | None, staff_id: int | None) -> Audience:
    """Who a request of a customer link stands for: staff (signed in, or an API token) are
    never the customer, whatever they fetch; then robots and HEADs; else the link's holder."""
    if method != "GET":
        return Audience.ROBOT
    if staff_id is not None:
        return Audience.INTERNAL
    return Audience.CUSTOMER if is_a_reader(method, user_agent) else Audience.ROBOT


def open_delivery(
    delivery: Delivery,
    *,
    user_agent: str,
    ip: str | None,
    audience: Audience = Audience.CUSTOMER,
    staff_id: int | None = None,
    via: Link | None = None,
    device: str | None = None,
    grants: list[str] | None = None,
) -> OpenedDelivery:
    """Serve the viewer. Nothing here is an open: serving the page proves only that something
    fetched the link (a chat app's link preview, a mail scanner, a script or a person).

    - CUSTOMER: an unconfirmed view session starts and `link.fetched` is recorded; the page's
      script confirms the open once a page is visible (portal.delivery.open_confirmation),
      which records `link.opened` with its points, notification and webhooks;
    - INTERNAL: `internal.viewed` is recorded (never scored, never notified) and no session
      starts, so no read time is reported;
    - ROBOT: the pages are shown and nothing is recorded.

    While the copy is still being prepared (or could not be), nothing is recorded: the
    "preparing" page reloads itself. `via` is the doc link it was opened with (default: the
    delivery's own): the page's "all documents" link lives no longer than it
    (portal.delivery.link_grants). `device` is the browser's device id: a device other than
    the recipient's may be asked who it is first (a required card: no pages, nothing recorded
    until it is answered).

    A delivery with a passcode the browser (its `grants`) has not entered is LOCKED: the page
    asks for it, shows nothing of the document and records nothing (it is not even a
    preview: what was fetched is the passcode page)."""
    if passcodes.locked(delivery, grants or []):
        return OpenedDelivery(delivery=delivery, state=ViewerState.LOCKED)
    opened = OpenedDelivery(
        delivery=delivery,
        state=readiness(delivery),
        portal_token=link_grants.viewer_portal_token(via or doc_link_of(delivery), delivery),
    )
    if opened.state != ViewerState.READY:
        return opened
    version = current_version(delivery)
    try:
        pages = document_links.document_layout(version, variables_for(delivery))
    except (ValidationFailed, ValueError):  # e.g. a new `latest` version that cannot render
        log.exception("delivery %s: version %s cannot be shown", delivery.id, version.number)
        opened.state = ViewerState.FAILED
        return opened
    if not pages:
        opened.state = ViewerState.FAILED
        return opened
    opened.version = version
    opened.pages = pages
    opened.watermark = watermark_text(delivery, device)
    if audience == Audience.ROBOT:
        return opened
    if audience == Audience.CUSTOMER:
        opened.ask_visitor = visitors.card_for(delivery, device)
        if opened.ask_visitor == visitors.AskVisitor.REQUIRED:
            opened.pages = []  # not shown until the reader says who they are
            return opened
    properties: dict = {"version": version.number, "pages": len(pages)}
    if audience == Audience.INTERNAL:
        events.record(
            events.NewEvent(
                customer_id=delivery.customer_id,
                type=EventType.INTERNAL_VIEWED,
                delivery_id=delivery.id,
                properties={**properties, "staff_id": staff_id},
            )
        )
        return opened
    if privacy_notice.tracking_mode() == "consent":
        # Nothing about the reader until they agree (the viewer asks): the fetch is one
        # anonymous, unscored count; confirm_open adds the device when they accept.
        session = sessions.start_session(delivery, version.number, "", None, confirmed=False)
        session.ip_hash = ""
    else:
        session = sessions.start_session(delivery, version.number, user_agent, ip, confirmed=False)
    events.record(
        events.NewEvent(
            customer_id=delivery.customer_id,
            type=EventType.LINK_FETCHED,
            delivery_id=delivery.id,
            session_id=session.id,
            properties=properties,
        )
    )
    opened.session = session
    opened.ingest_token = sessions.ingest_token(session, len(pages))  # this copy's pages
    return opened


# --- pages, file, links -------------------------------------------------------------------


def page_image(delivery: Delivery, page: int, width: int | None = None) -> tuple[bytes, int]:
    """Page `page` of the customer's current copy as PNG, or as WebP `width` pixels wide (one
    of PAGE_WEBP_WIDTHS), and that version's number."""
    version = current_version(delivery)
    variables = variables_for(delivery)
    try:
        if width is None:
            return render_version_page_png(version, variables, page), version.number
        return render_version_page_webp(version, variables, page, width), version.number
    except ValueError:  # no such page, or no such width
        raise NotFound("page not found") from None


@dataclass
class DownloadFile:
    data: bytes
    filename: str
    version_number: int


def download_filename(name: str) -> str:
    """The template's name as a file name (Chinese kept; Flask sends it RFC 5987-encoded)."""
    base = _UNSAFE_FILENAME.sub(" ", name).strip(" .") or "document"
    return f"{base[:120]}.pdf"


def download(delivery: Delivery, *, record: bool = True, device: str | None = None) -> DownloadFile:
    """The personalised PDF; records `doc.downloaded`. PermissionDenied when not allowed."""
    if not delivery.allow_download:
        raise PermissionDenied("downloading this document is not allowed")
    version = current_version(delivery)
    data = render_version_pdf(version, variables_for(delivery))
    if record:
        _record_download(delivery, version, device)
    return DownloadFile(data, download_filename(delivery.template.name), version.number)


def _record_download(delivery: Delivery, version: TemplateVersion, device: str | None) -> None:
    reader = visitors.reader_of(delivery, device)
    events.record(
        events.NewEvent(
            customer_id=reader.customer_id,
            visitor_id=reader.visitor_id,
            type=EventType.DOC_DOWNLOADED,
            delivery_id=delivery.id,
            properties={"version": version.number},
        )
    )


def follow_link(
    delivery: Delivery,
    signed_target: str | None,
    page: int | None,
    *,
    record: bool = True,
    device: str | None = None,
) -> str:
    """Where a link inside the document goes; records `link.clicked`.

    Only targets this server signed for this delivery are followed (never an open redirect,
    never another document's link recorded as a click here); NotFound else."""
    href = document_links.unsign_target(signed_target, delivery.id)
    if href is None:
        raise NotFound("unknown link")
    if not record:
        return href
    version = current_version(delivery)
    if page is not None and not (1 <= page <= (version.page_count or page)):
        page = None
    tags = tags_of_page(version.content_tags or {}, page) if page else []
    reader = visitors.reader_of(delivery, device)  # a forwarded reader's click is theirs
    events.record(
        events.NewEvent(
            customer_id=reader.customer_id,
            visitor_id=reader.visitor_id,
            type=EventType.LINK_CLICKED,
            delivery_id=delivery.id,
            page=page,
            properties={
                "href": href,
                "content_tag": tags[0] if tags else None,
                "page": page,
                "version": version.number,
            },
        )
    )
    return href


def qr_svg(url: str) -> bytes:
    """An SVG QR code of url (dark modules on white, a quiet zone of 4 modules)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, dark="#000", light="#fff"
    )
    return out.getvalue()
