"""Bundles (资料包): one send of several documents, opened with one link.

Each document of a bundle is a delivery of its own (Delivery.bundle_id), made exactly as a
single send makes one (portal.delivery.services.create_delivery): its own doc link, render,
opens, read time and scores; the send's passcode and watermark options apply to each, as to a
single send. The bundle adds one link (purpose "bundle", Link.bundle_id), signed, expiring with
the send and revocable like every other.

The bundle page (GET /b/<token>) lists the documents: title, page count, thumbnail (the share
card's, portal.delivery.share_cards) and an open button. Serving it records nothing: it is no
open of any document. Its open buttons are document links derived from the bundle link
(portal.delivery.link_grants: parent_id = the bundle link), so a page never hands out more than
the link it was opened with. A document is opened, confirmed and scored through its viewer only.

Revoking a bundle revokes its link and each of its deliveries (with their own links and every
link their pages gave out): one rule, nothing of the bundle stays readable. A document revoked
on its own leaves the bundle's other documents alone and disappears from its page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import jobs
from portal.accounts.models import User
from portal.audit import service as audit
from portal.customers.models import Customer
from portal.customers.services import get_customer, visible_to
from portal.db_types import utcnow
from portal.delivery import link_grants, passcodes, services
from portal.delivery.email import bundle_title, send_bundle_email  # noqa: F401  (bundle_title: the page's)
from portal.delivery.link_grants import RevokeReason
from portal.delivery.models import Bundle, Delivery
from portal.delivery.sent_links import Sent, bundle_link_of, bundle_url, sent_view
from portal.delivery.share_cards import thumbnail_url
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.library import services as library
from portal.library.models import Template, TemplateVersion
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose

MAX_DOCUMENTS = 10


@dataclass
class SentBundle:
    bundle: Bundle
    url: str  # the bundle page's link
    portal_url: str
    documents: list[Sent]


def send_any(sender: User, request: services.SendRequest) -> Sent | SentBundle:
    """A send of one template (template_id) or a bundle (template_ids): exactly one of them."""
    if request.template_ids is not None and request.template_id is not None:
        raise ValidationFailed(
            "give template_id or template_ids, not both",
            code="template_id_and_ids",
            field="template_ids",
        )
    if request.template_ids is None:
        if request.template_id is None:
            raise ValidationFailed(
                "template_id (or template_ids) is required", code="required", field="template_id"
            )
        return services.send(sender, request)
    return send_bundle(sender, request)


def _check_ids(template_ids: object) -> list[int]:
    if not isinstance(template_ids, list) or not template_ids:
        raise ValidationFailed(
            "template_ids must list at least one template",
            code="bundle_empty",
            field="template_ids",
        )
    if len(template_ids) > MAX_DOCUMENTS:
        raise ValidationFailed(
            f"a bundle holds at most {MAX_DOCUMENTS} documents",
            code="bundle_too_large",
            field="template_ids",
            limit=MAX_DOCUMENTS,
        )
    if len(set(template_ids)) != len(template_ids):
        raise ValidationFailed(
            "a template is listed twice in template_ids",
            code="bundle_duplicate_template",
            field="template_ids",
        )
    return list(template_ids)


def send_bundle(sender: User, request: services.SendRequest) -> SentBundle:
    """One send of several templates to one customer: a delivery each and one bundle link.

    Every check (the list, each template's permission and published version, the options,
    storage) is made before anything is written, so a refusal leaves nothing behind."""
    template_ids = _check_ids(request.template_ids)
    customer = get_customer(sender, request.customer_id)
    templates = services.sendable_templates(sender, template_ids, field="template_ids")
    for template in templates:
        try:
            library.get_version(template)
        except NotFound as exc:
            raise NotFound(exc.message, code=exc.code, field="template_ids") from exc
    options = services.send_options(request, customer)
    bundle = Bundle(customer=customer, sender=sender)
    db.session.add(bundle)
    db.session.flush()
    single = services.SendRequest(**{**vars(request), "send_email": False})
    documents = []
    for template in templates:
        delivery, doc_link = services.create_delivery(
            sender, template, single, options, bundle_id=bundle.id
        )
        if request.send_email:  # one e-mail for the bundle (below), its status on each
            delivery.email_status = services.EmailStatus.QUEUED
        jobs.defer(services.prepare_delivery, delivery.id)
        documents.append(sent_view(delivery, doc_link))
    link = Link(
        purpose=LinkPurpose.BUNDLE.value,
        customer_id=customer.id,
        bundle_id=bundle.id,
        expires_at=options.expires_at,
    )
    db.session.add(link)
    db.session.flush()
    links.portal_link(customer, handed_out=True)
    if request.send_email:
        jobs.defer(send_bundle_email, bundle.id)
    return SentBundle(
        bundle=bundle,
        url=bundle_url(link),
        portal_url=documents[0].portal_url,
        documents=documents,
    )


def bundle_documents(bundle_id: int, *, live_only: bool = True) -> list[Delivery]:
    query = (
        select(Delivery)
        .where(Delivery.bundle_id == bundle_id)
        .options(
            joinedload(Delivery.template).selectinload(Template.versions),
            joinedload(Delivery.sender),
        )
        .order_by(Delivery.id)
    )
    if live_only:
        query = query.where(Delivery.revoked_at.is_(None))
    return list(db.session.scalars(query).unique())


def get_bundle(user: User, bundle_id: int) -> Bundle:
    """A bundle of a customer user may see; NotFound otherwise."""
    bundle = db.session.scalar(
        select(Bundle)
        .join(Customer, Customer.id == Bundle.customer_id)
        .where(Bundle.id == bundle_id, visible_to(user))
    )
    if bundle is None:
        raise NotFound("bundle not found")
    return bundle


def sent_bundle(bundle: Bundle) -> SentBundle:
    documents = [sent_view(d) for d in bundle_documents(bundle.id, live_only=False)]
    portal_url = documents[0].portal_url if documents else ""
    return SentBundle(bundle, bundle_url(bundle_link_of(bundle)), portal_url, documents)


def revoke_bundle(
    user: User, bundle_id: int, reason: RevokeReason = RevokeReason.WITHDRAWN
) -> Bundle:
    """Revoke a bundle: its link and each of its documents (services.revoke: their links and
    every link their pages gave out). For cause (LEAKED) the portal link is rotated once."""
    bundle = get_bundle(user, bundle_id)
    link = bundle_link_of(bundle)
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        audit.record(
            "bundle.revoked",
            bundle,
            by=user,
            summary=f"#{bundle.id}",
            details={"customer_id": bundle.customer_id, "reason": reason.value},
        )
    for delivery in bundle_documents(bundle.id):
        services.revoke(user, delivery.id)
    if reason == RevokeReason.LEAKED:
        link_grants.rotate_for(bundle.customer, by=user, reason="bundle_leaked")
    return bundle


def is_revoked(bundle: Bundle) -> bool:
    return bundle_link_of(bundle).revoked_at is not None


# --- the customer's bundle page ------------------------------------------------------------


def resolve_bundle_link(token: str) -> tuple[Link, Bundle]:
    """The live bundle link a token opens and its bundle; LinkNotFound (404) / LinkGone (410)."""
    link = links.resolve(token or "", LinkPurpose.BUNDLE)
    bundle = db.session.get(Bundle, link.bundle_id) if link.bundle_id is not None else None
    if bundle is None or bundle.customer_id != link.customer_id:
        raise links.missing(-1)
    return link, bundle


@dataclass
class BundleItem:
    delivery: Delivery
    version: TemplateVersion
    doc_token: str | None  # None: expired
    thumbnail_url: str | None
    locked: bool  # a passcode this browser has not entered: no title, no thumbnail

    @property
    def title(self) -> str:
        return self.delivery.template.name

    @property
    def page_count(self) -> int | None:
        return self.version.page_count

    @property
    def available(self) -> bool:
        return self.doc_token is not None


@dataclass
class BundlePage:
    bundle: Bundle
    link: Link
    items: list[BundleItem]

    @property
    def sender(self) -> User:
        return self.bundle.sender

    @property
    def card_link(self) -> Link | None:
        """The document link whose thumbnail the share card shows: the first one that is not
        locked by a passcode (None: the card has no image)."""
        for item in self.items:
            if item.thumbnail_url is not None:
                return self._doc_links[item.delivery.id]
        return None

    _doc_links: dict[int, Link]


def bundle_page(token: str, grants: list[str]) -> BundlePage:
    """The bundle page's data. Records nothing (the page is no open of any document); its
    document links may be created (derived from the bundle link): the caller commits."""
    link, bundle = resolve_bundle_link(token)
    now = utcnow()
    deliveries = bundle_documents(bundle.id)
    live = [d for d in deliveries if not links.ended(d.revoked_at, d.expires_at, now)]
    doc_links = link_grants.portal_doc_links(link, (d.id for d in live))
    items = []
    for delivery in deliveries:
        doc_link = doc_links.get(delivery.id)
        locked = passcodes.locked(delivery, grants)
        items.append(
            BundleItem(
                delivery=delivery,
                version=services.current_version(delivery),
                doc_token=links.token_for(doc_link) if doc_link is not None else None,
                thumbnail_url=thumbnail_url(doc_link)
                if doc_link is not None and delivery.passcode_hash is None
                else None,
                locked=locked,
            )
        )
    return BundlePage(bundle=bundle, link=link, items=items, _doc_links=doc_links)
