"""The customer's file and page images: one query at most, a local file, sendfile.

GET /d/<token>/download and the viewer's page images (PNG, and WebP per width) are the busiest
customer URLs. Each one resolves the link with a single query (the link, its delivery, the
version the customer sees now, and the customer's and rep's fields that name the rendered
copy), checks it live, and hands Flask a path on local disk (portal.library.storage.node_cache)
so the bytes go out with sendfile. What the query found for a live link is kept in the process
for up to one second (portal.delivery.link_cache): a revocation or an expiry reaches every
process and node within one second, usually at once. The download's `doc.downloaded` event goes
through the ingest queue when Redis is configured (portal.tracking.ingest_path.record_event:
one Redis round trip, the durable write), stored by the applier, with the scoring and task
rules, after the answer.

A copy that is not rendered yet (a first open racing its background job) takes the full path
(portal.delivery.viewer), which renders it.

A delivery with a passcode serves its file and pages only to a browser that entered it
(portal.delivery.passcodes: the caller passes the browser's grants); a watermarked delivery's
download is its copy stamped with the reader's mark (portal.delivery.watermarks), made once.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery import link_cache, passcodes, sending, watermarks
from portal.delivery.models import Delivery
from portal.delivery.sending import ServedFile
from portal.errors import NotFound, PermissionDenied
from portal.extensions import db
from portal.library.models import Template, TemplateVersion, VersionPolicy
from portal.library.rendering import (
    PAGE_WEBP_WIDTHS,
    customer_variables,
    pdf_cache_key,
    png_cache_key,
    webp_cache_key,
)
from portal.library.rendering.variables import CUSTOMER_FIELDS, REP_FIELDS, business_date
from portal.library.storage import node_cache
from portal.tracking import links
from portal.tracking.events import NewEvent
from portal.tracking.ingest_queue import REPLAY_REQUEST
from portal.tracking.models import EventType, Link, LinkPurpose

_links = Link.__table__
_deliveries = Delivery.__table__
_templates = Template.__table__
_versions = TemplateVersion.__table__
_customers = Customer.__table__
_users = User.__table__
_newest = _versions.alias("newest")
_grants = _links.alias("grant_link")  # a derived link's grant (portal.delivery.link_grants)
_grant_deliveries = _deliveries.alias("grant_delivery")

# The version the customer sees now: the newest published one (policy `latest`), else the one
# sent (as portal.delivery.services.current_version decides).
_CURRENT = case(
    (
        _deliveries.c.policy == VersionPolicy.LATEST.value,
        func.coalesce(
            select(_newest.c.id)
            .where(_newest.c.template_id == _deliveries.c.template_id, _newest.c.published)
            .order_by(_newest.c.number.desc())
            .limit(1)
            .scalar_subquery(),
            _deliveries.c.version_id,
        ),
    ),
    else_=_deliveries.c.version_id,
)
_RESOLVE = (
    select(
        _links.c.customer_id.label("link_customer_id"),
        _links.c.revoked_at.label("link_revoked_at"),
        _links.c.expires_at.label("link_expires_at"),
        _links.c.parent_id.label("link_parent_id"),
        _grants.c.revoked_at.label("grant_revoked_at"),
        _grants.c.expires_at.label("grant_expires_at"),
        _grant_deliveries.c.revoked_at.label("grant_delivery_revoked_at"),
        _grant_deliveries.c.expires_at.label("grant_delivery_expires_at"),
        _deliveries.c.id.label("delivery_id"),
        _deliveries.c.customer_id,
        _deliveries.c.template_id,
        _deliveries.c.sender_id,
        _deliveries.c.allow_download,
        _deliveries.c.watermark,
        _deliveries.c.passcode_hash,
        _deliveries.c.revoked_at,
        _deliveries.c.expires_at,
        _deliveries.c.created_at,
        _templates.c.name.label("template_name"),
        _versions.c.number.label("version_number"),
        _versions.c.sha256,
        _versions.c.source_type,
        _versions.c.storage_key,
        *[_customers.c[name].label(f"customer_{name}") for name in CUSTOMER_FIELDS],
        *[_users.c[name].label(f"rep_{name}") for name in REP_FIELDS],
    )
    .select_from(
        _links.join(_deliveries, _deliveries.c.id == _links.c.delivery_id)
        .join(_templates, _templates.c.id == _deliveries.c.template_id)
        .join(_versions, _versions.c.id == _CURRENT)
        .join(_customers, _customers.c.id == _deliveries.c.customer_id)
        .join(_users, _users.c.id == _deliveries.c.sender_id)
        .outerjoin(_grants, _grants.c.id == _links.c.parent_id)
        .outerjoin(_grant_deliveries, _grant_deliveries.c.id == _grants.c.delivery_id)
    )
    .where(and_(_links.c.id == bindparam("link_id"), _links.c.purpose == LinkPurpose.DOC.value))
)


@dataclass(frozen=True)
class CustomerCopy:
    """A live doc link's delivery, as the customer sees it now."""

    delivery_id: int
    customer_id: int
    allow_download: bool
    template_name: str
    version: Any  # number, sha256, source_type, storage_key (what the cache keys need)
    variables: dict[str, Any]
    watermark: bool = False
    passcode: str = ""  # the fingerprint of the delivery's passcode; "" when it has none
    created_at: datetime | None = None  # the delivery's (its tombstone key names it)
    expires_at: datetime | None = None  # the earliest expiry of the link, delivery and grant

    def pdf_key(self) -> str:
        if self.version.source_type == "pdf":
            return self.version.storage_key  # shown as uploaded
        return pdf_cache_key(self.version, self.variables)

    def page_key(self, page: int, width: int | None = None) -> str:
        """The PNG of a page, or its WebP `width` pixels wide."""
        if width is None:
            return png_cache_key(self.version, self.variables, page)
        return webp_cache_key(self.version, self.variables, page, width)

    def mark(self, visitor_name: str | None) -> str:
        """The reader's mark (portal.delivery.watermarks): the customer and the send date."""
        customer = self.variables["customer"]
        return watermarks.mark_text(
            customer["name"], customer["company"], self.variables["today"], visitor_name
        )


def resolve(token: str) -> CustomerCopy:
    """The copy a doc token opens. LinkNotFound (404) or LinkGone (410) as viewer.resolve_doc
    says. A live link's copy is kept in this process for up to a second
    (portal.delivery.link_cache), keyed by the verified link id."""
    link_id = _link_id(token)
    if link_id is None:
        link_id = -1  # still query: the same work as for a real token
    now = utcnow()
    cache = link_cache.cache()
    cached = cache.get(link_id, now)
    if cached is not None:
        return cached
    ticket = cache.ticket(link_cache.transaction_began(db.session()))  # before the read
    row = db.session.execute(_RESOLVE, {"link_id": link_id}).first()
    if row is None:
        raise links.missing(link_id)
    if row.customer_id != row.link_customer_id:
        raise links.missing(-1)
    lives = (
        (row.link_revoked_at, row.link_expires_at),
        (row.revoked_at, row.expires_at),
        (row.grant_revoked_at, row.grant_expires_at),
        (row.grant_delivery_revoked_at, row.grant_delivery_expires_at),
    )
    if any(links.ended(revoked, expires, now) for revoked, expires in lives):
        raise links.gone(link_id)
    customer = SimpleNamespace(**{n: getattr(row, f"customer_{n}") for n in CUSTOMER_FIELDS})
    rep = SimpleNamespace(**{n: getattr(row, f"rep_{n}") for n in REP_FIELDS})
    version = SimpleNamespace(
        number=row.version_number,
        sha256=row.sha256,
        source_type=row.source_type,
        storage_key=row.storage_key,
    )
    copy = CustomerCopy(
        delivery_id=row.delivery_id,
        customer_id=row.customer_id,
        allow_download=row.allow_download,
        template_name=row.template_name,
        version=version,
        # as portal.delivery.services.variables_for: the send date names the copy
        variables=customer_variables(customer, rep, today=business_date(row.created_at)),
        watermark=bool(row.watermark),
        passcode=passcodes.fingerprint(row.passcode_hash),
        created_at=row.created_at,
        expires_at=min((expires for _r, expires in lives if expires is not None), default=None),
    )
    cache.put(link_id, ticket, copy, copy.expires_at)
    return copy


def _link_id(token: str) -> int | None:
    """The doc link id a token's signature vouches for; None when its signature is bad."""
    link_id = links.unsign(token or "", LinkPurpose.DOC.value)
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        return None
    return link_id


def download(
    token: str,
    *,
    record: bool,
    device: str | None = None,
    grants: list[str] | None = None,
    request_id: str | None = None,
    gate: str | None = None,
    refresh: bool = False,
) -> ServedFile:
    """The customer's PDF as a local file; `doc.downloaded` recorded (queued with Redis; the
    caller commits otherwise). PermissionDenied when downloads are off for this delivery,
    PasscodeRequired when it has a passcode the browser (its grants) has not entered.
    With a device id the download is recorded here, as that device's reader's
    (portal.delivery.visitors: a forwarded reader's is not the customer's), and a watermarked
    copy names that reader when they said who they are. `request_id` (the proxy's, for one
    request however often the proxy sends it) makes a download sent twice count once.
    `gate`: the X-Portal-Gate header of nginx's download gate, if any
    (portal.delivery.download_gate): a replayable answer then says how nginx may replay it;
    with `refresh` too, the gate renews a decision in the background: decided, not recorded."""
    from portal.delivery import download_gate, viewer, visitors
    from portal.tracking.ingest_path import record_event

    asked = bool(request_id) and download_gate.asked(gate)
    # The gate's epoch is taken before the copy is resolved, so that a decision is made only
    # for a copy read under the generation it names (download_gate.prepare); and only for a
    # token whose signature holds, so that a bogus one costs no reading of the change counter
    # (it is answered 404 below all the same). A good signature is remembered per process
    # (links._verified), so resolve()'s second check of it is a look-up.
    prepared = download_gate.prepare() if asked and _link_id(token) is not None else None

    copy = resolve(token)
    passcodes.require(copy.delivery_id, copy.passcode, grants or [])
    if not copy.allow_download:
        raise PermissionDenied("downloading this document is not allowed")
    remote = None if copy.watermark else sending.remote_key(copy.pdf_key())
    path = None if remote else node_cache.local_path(copy.pdf_key())
    if path is None and not remote:  # not rendered yet: render it the full way
        viewer.download(viewer.resolve_doc(token), record=False)
        path = node_cache.local_path(copy.pdf_key())
        if path is None:
            raise NotFound("the document is not available")
    if copy.watermark:
        mark = copy.mark(visitors.identified_name(copy.delivery_id, device))
        path = watermarks.marked_copy(copy.delivery_id, copy.pdf_key(), mark)
    event = None
    if record:
        delivery = SimpleNamespace(id=copy.delivery_id, customer_id=copy.customer_id)
        reader = visitors.reader_of(delivery, device)
        event = NewEvent(
            customer_id=reader.customer_id,
            visitor_id=reader.visitor_id,
            type=EventType.DOC_DOWNLOADED,
            delivery_id=copy.delivery_id,
            properties={"version": copy.version.number},
            idempotency_key=download_key(copy.delivery_id, request_id) if request_id else None,
        )
        if not (refresh and asked):
            record_event(event)
    replay = None
    if path is not None and asked:
        key = download_key(copy.delivery_id, REPLAY_REQUEST)
        replay = download_gate.decision(
            copy.delivery_id,
            copy.created_at,
            copy.expires_at,
            None if event is None else dataclasses.replace(event, idempotency_key=key),
            prepared=prepared,
            device=device is not None,
        )
    return ServedFile(
        path, viewer.download_filename(copy.template_name), copy.pdf_key(), replay=replay
    )


def download_key(delivery_id: int, request_id: str) -> str:
    """A download's idempotency key: one event per delivery and request, however often the
    proxy sends the request, and whether the app or nginx's gate records it."""
    return f"dl:{delivery_id}:{request_id}"


def page_image(
    token: str, page: int, grants: list[str] | None = None, width: int | None = None
) -> ServedFile:
    """Page `page` of the customer's current copy as a local file: the PNG, or with `width`
    (one of PAGE_WEBP_WIDTHS) the WebP that wide. Its file name is an ETag, the same on every
    node, since the key names the content. NotFound past the last page or for another width,
    PasscodeRequired as for the download."""
    from portal.delivery import viewer

    copy = resolve(token)
    passcodes.require(copy.delivery_id, copy.passcode, grants or [])
    if isinstance(page, bool) or page < 1:
        raise NotFound("page not found")
    if width is not None and width not in PAGE_WEBP_WIDTHS:
        raise NotFound("page not found")
    key = copy.page_key(page, width)
    path = node_cache.local_path(key)
    if path is None:  # not rendered yet
        viewer.page_image(viewer.resolve_doc(token), page, width)
        path = node_cache.local_path(key)
        if path is None:
            raise NotFound("page not found")
    return ServedFile(path, hashlib.blake2b(key.encode(), digest_size=12).hexdigest())
