"""Sending a material in one click, revoking it, and which version a delivery shows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal import jobs, outages
from portal.accounts.models import User
from portal.audit import service as audit
from portal.customers.models import Customer
from portal.customers.services import get_customer, visible_to
from portal.db_types import utcnow
from portal.delivery import link_grants, passcodes, visitors
from portal.delivery.email import send_delivery_email
from portal.delivery.link_grants import RevokeReason
from portal.delivery.models import Delivery, EmailStatus, RenderStatus
from portal.delivery.sent_links import Sent, doc_link_of, sent_view  # noqa: F401  (doc_link_of: callers of services keep it)
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.library import permissions
from portal.library import services as library
from portal.library.models import Template, TemplateKind, TemplateVersion, VersionPolicy
from portal.library.rendering import (
    customer_variables,
    prepare_copy,
)
from portal.library.rendering.variables import business_date
from portal.library.storage import get_storage
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose

log = logging.getLogger(__name__)
MAX_EXPIRY_DAYS = 365
MAX_MESSAGE_LENGTH = 2000


@dataclass
class SendRequest:
    customer_id: int
    template_id: int | None = None  # one document; or template_ids for a bundle
    version_policy: str | None = None  # default: the template's policy
    allow_download: bool = True
    expires_in_days: int | None = None
    message: str = ""
    send_email: bool = False
    watermark: bool | None = None  # None: on for quotes, off for other kinds
    ask_visitor: str | None = None  # off (default) | optional | required (delivery.visitors)
    passcode: str | None = None  # 4 to 8 digits the reader must enter (delivery.passcodes)
    # Several documents in one send (a 资料包, portal.delivery.bundles), instead of template_id.
    template_ids: list[int] | None = None


@dataclass
class SendOptions:
    """What a send asks of every document it carries, checked once (send_options)."""

    customer: Customer
    expires_at: datetime | None
    message: str
    ask_visitor: str
    passcode_hash: str | None


def send(sender: User, request: SendRequest, *, after_commit: bool = True) -> Sent:
    """Create a delivery for one customer; rendering (and the e-mail) run after the commit.

    after_commit=False: the caller renders and e-mails itself (a bulk send's job,
    portal.delivery.bulk, which mails each copy once it is rendered)."""
    customer = get_customer(sender, request.customer_id)
    (template,) = sendable_templates(sender, [request.template_id or 0], field="template_id")
    options = send_options(request, customer)
    delivery, doc_link = create_delivery(sender, template, request, options)
    links.portal_link(customer, handed_out=True)  # the send carries it: it lives on from now
    if after_commit:
        jobs.defer(prepare_delivery, delivery.id)
        if request.send_email:
            jobs.defer(send_delivery_email, delivery.id)
    return sent_view(delivery, doc_link)


def sendable_templates(sender: User, template_ids: list[int], *, field: str) -> list[Template]:
    """The templates sender may send, in the order given; NotFound (on `field`) for any other:
    one the sender may not see or send looks like one that does not exist."""
    found = []
    for template_id in template_ids:
        try:
            template = library.get_template(sender, template_id)
        except NotFound as exc:
            raise NotFound("template not found", field=field) from exc
        if not permissions.can_send(sender, template):
            raise NotFound("template not found", field=field)
        found.append(template)
    return found


def check_options(template: Template, request: SendRequest) -> tuple[datetime | None, str]:
    """The options every send checks whoever it goes to (a bulk send checks them once, before
    its batch is written): version policy, expiry, message, the visitor question; its expiry
    and message, or ValidationFailed on the field concerned."""
    _check_policy(request.version_policy or template.version_policy)
    return _terms(request)


def send_options(request: SendRequest, customer: Customer) -> SendOptions:
    """Check what a send to this customer asks (the options, the e-mail, the passcode) before
    anything is written; ValidationFailed on the field concerned."""
    if request.version_policy:
        _check_policy(request.version_policy)
    expires_at, message = _terms(request)
    if request.send_email and not customer.email:
        raise ValidationFailed(
            "this customer has no e-mail address; copy the link instead",
            code="customer_has_no_email",
            field="send_email",
        )
    return SendOptions(
        customer=customer,
        expires_at=expires_at,
        message=message,
        ask_visitor=visitors.ask_visitor_value(request.ask_visitor),
        passcode_hash=passcodes.hash_passcode(request.passcode),
    )


def _check_policy(policy: str) -> None:
    if policy not in {p.value for p in VersionPolicy}:
        raise ValidationFailed(
            "version_policy must be 'latest' or 'pinned'",
            code="bad_version_policy",
            field="version_policy",
        )


def _terms(request: SendRequest) -> tuple[datetime | None, str]:
    """The expiry and message a send asks for, checked; the visitor question checked too."""
    expires_at = None
    if request.expires_in_days is not None:
        if not 1 <= request.expires_in_days <= MAX_EXPIRY_DAYS:
            raise ValidationFailed(
                f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}",
                code="bad_expiry",
                field="expires_in_days",
                limit=MAX_EXPIRY_DAYS,
            )
        expires_at = utcnow() + timedelta(days=request.expires_in_days)
    message = (request.message or "").strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        raise ValidationFailed(
            f"the message is longer than {MAX_MESSAGE_LENGTH} characters",
            code="message_too_long",
            field="message",
            limit=MAX_MESSAGE_LENGTH,
        )
    visitors.ask_visitor_value(request.ask_visitor)
    return expires_at, message


def create_delivery(
    sender: User,
    template: Template,
    request: SendRequest,
    options: SendOptions,
    *,
    bundle_id: int | None = None,
) -> tuple[Delivery, Link]:
    """The delivery of one template and its doc link (storage checked first: nothing is
    written when it is down). Rendering and e-mail are the caller's to defer."""
    version = library.get_version(template)
    _check_storage(version)
    watermark = request.watermark
    if watermark is None:  # a quote names its reader unless the rep says otherwise
        watermark = template.kind == TemplateKind.QUOTE
    delivery = Delivery(
        customer=options.customer,
        template=template,
        version=version,
        policy=request.version_policy or template.version_policy,
        sender=sender,
        message=options.message,
        allow_download=request.allow_download,
        watermark=watermark,
        passcode_hash=options.passcode_hash,
        ask_visitor=options.ask_visitor,
        expires_at=options.expires_at,
        render_status=RenderStatus.PENDING,
        email_status=EmailStatus.QUEUED if request.send_email else None,
        bundle_id=bundle_id,
    )
    db.session.add(delivery)
    db.session.flush()
    doc_link = Link(
        purpose=LinkPurpose.DOC.value,
        customer_id=options.customer.id,
        delivery_id=delivery.id,
        expires_at=options.expires_at,
    )
    db.session.add(doc_link)
    db.session.flush()
    return delivery, doc_link


def _check_storage(version: TemplateVersion) -> None:
    """Refuse the send, before anything is written, when storage is down: the copy is rendered
    from it after the commit, and a delivery whose copy cannot be made is no use to the rep."""
    try:
        get_storage().exists(version.storage_key)
    except Exception as exc:
        if not outages.is_outage(exc):
            raise
        log.warning("send refused: storage is not answering (%s)", exc)
        raise outages.StorageUnavailable(
            "document storage is not answering: nothing was sent, try again in a minute"
        ) from exc


def current_version(delivery: Delivery) -> TemplateVersion:
    """What the customer sees now: the newest published version, or the one sent (pinned)."""
    if delivery.policy == VersionPolicy.LATEST:
        latest = delivery.template.latest_version
        if latest is not None:
            return latest
    return delivery.version


def variables_for(delivery: Delivery) -> dict:
    """The rendering variables of this customer's copy. The date is the send date, so a
    re-render (new version, cache miss) keeps the date the customer was sent."""
    return customer_variables(
        delivery.customer, delivery.sender, today=business_date(delivery.created_at)
    )


@jobs.retried
def prepare_delivery(delivery_id: int) -> None:
    """Render the customer's copy and its first page's images, so the first open is instant.

    Safe to run again (the render is cached by what determines it). When storage or the
    database is down the delivery stays pending and the error is raised: on RQ the job is
    retried; inline, the viewer renders the copy itself once it is back (viewer.readiness)."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        return
    version = current_version(delivery)
    try:
        prepare_copy(version, variables_for(delivery))  # the PDF, page 1 as a phone asks
    except Exception as exc:  # the rep sees "failed" with the reason, the customer a retry
        if outages.is_outage(exc):
            raise  # not the template's fault: stays pending, tried again
        log.exception("rendering delivery %s failed", delivery_id)
        delivery.render_status = RenderStatus.FAILED
        delivery.render_error = str(exc)[:500]
        return
    delivery.render_status = RenderStatus.READY
    delivery.render_error = None


def get_delivery(user: User, delivery_id: int) -> Delivery:
    """A delivery of a customer user may see; NotFound otherwise."""
    delivery = db.session.scalar(
        select(Delivery)
        .join(Customer, Customer.id == Delivery.customer_id)
        .where(Delivery.id == delivery_id, visible_to(user))
    )
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


def revoke(user: User, delivery_id: int, reason: RevokeReason = RevokeReason.WITHDRAWN) -> Delivery:
    """Revoke a delivery: its link, and every link its pages gave out (portal.delivery.
    link_grants), answer 410 within one second on every node (portal.delivery.link_cache; at
    once on this one).

    For cause (reason LEAKED: the link was forwarded or leaked) the customer's portal link is
    rotated too, since whoever holds the document link may hold the portal link as well; a
    routine withdrawal leaves the customer's bookmarked portal alone."""
    delivery = get_delivery(user, delivery_id)
    if delivery.revoked_at is None:
        now = utcnow()
        delivery.revoked_at = now
        for link in db.session.scalars(select(Link).where(Link.delivery_id == delivery.id)):
            link.revoked_at = link.revoked_at or now
        audit.record(
            "delivery.revoked",
            delivery,
            by=user,
            summary=f"#{delivery.id}",
            details={
                "customer_id": delivery.customer_id,
                "template_id": delivery.template_id,
                "reason": reason.value,
            },
        )
    if reason == RevokeReason.LEAKED:  # also when it was withdrawn before, then found leaked
        link_grants.rotate_for(
            delivery.customer, by=user, reason="delivery_leaked", delivery_id=delivery.id
        )
    return delivery
