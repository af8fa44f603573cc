"""Devices and forwarded readers of a delivery.

Every browser that opens a customer link gets a first-party, long-lived device cookie (a random
id; set by the viewer route). When the viewer confirms an open (portal.delivery.open_confirmation)
the session is attached to the Visitor of (delivery, device):

- the first device that confirms an open of a delivery is the recipient's own (forwarded
  False): its reading is the customer's, as before;
- any other device is a forwarded reader (a colleague the link was passed to, e.g. in a WeChat
  group): its opens, read time, pages, downloads and clicks are stored under that Visitor with no
  customer (events.customer_id NULL), so no customer's score, task or timeline moves for it, and
  the rep is told once per visitor, "文档被转发：…";
- a forwarded reader may say who they are (the "您是？" card, per send: off, optional or
  required); they then become a contact of the recipient's account (add_contact), owned by the
  recipient's owner, and their reading (past and future) scores under that contact. The rep may
  also merge a visitor into an existing contact.

A browser that sends no device cookie (cookies refused) is taken for the recipient, as before
devices were told apart: the reading is not lost, and no forwarding is claimed without proof.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.companies import matching
from portal.companies.contacts import add_contact
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer, get_customer
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.engagement.recompute import recompute
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications.services import notify
from portal.tracking import rollups
from portal.tracking.devices import describe
from portal.tracking.models import Event, ViewSession, Visitor

DEVICE_COOKIE = "portal_device"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600  # seconds: a browser keeps its id for two years
NAME_MAX, TITLE_MAX, CONTACT_MAX = 120, 120, 200


class AskVisitor(enum.StrEnum):
    """What a device other than the recipient's sees first (chosen per send)."""

    OFF = "off"  # nothing asked (default)
    OPTIONAL = "optional"  # the "您是？" card, which the reader may skip
    REQUIRED = "required"  # the document is not shown until the card is answered


def ask_visitor_value(value: Any) -> str:
    """A send's ask_visitor (None: off); ValidationFailed (field ask_visitor) otherwise."""
    if value is None or value == "":
        return AskVisitor.OFF.value
    if value not in {a.value for a in AskVisitor}:
        raise ValidationFailed(
            "ask_visitor must be off, optional or required",
            code="invalid_ask_visitor",
            field="ask_visitor",
        )
    return str(value)


def new_device_id() -> str:
    """A fresh device id: 128 random bits, URL-safe (the /t/o key alphabet)."""
    return secrets.token_urlsafe(16)


# --- the reader of a request -----------------------------------------------------------------


def _visitor(delivery_id: int, device: str | None) -> Visitor | None:
    if not device:
        return None
    return db.session.scalar(
        select(Visitor).where(Visitor.delivery_id == delivery_id, Visitor.device_id == device)
    )


def _visitor_or_new(
    delivery_id: int, customer_id: int, device: str, user_agent: str, now: datetime
) -> Visitor:
    """This device's Visitor of the delivery, created on first use. Two requests of one new
    device can both find none (the viewer's open confirmation and the "您是？" card posted at
    once): the second insert meets the unique key and takes the first's row, instead of a 500
    that loses what the reader typed."""
    visitor = _visitor(delivery_id, device)
    if visitor is not None:
        return visitor
    forwarded = _recipient_known(delivery_id)
    visitor = Visitor(
        delivery_id=delivery_id,
        device_id=device,
        forwarded=forwarded,
        customer_id=None if forwarded else customer_id,
        user_agent=user_agent[:400],
        first_seen_at=now,
        last_seen_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(visitor)
    except IntegrityError:
        found = _visitor(delivery_id, device)
        if found is None:
            raise
        return found
    return visitor


def _recipient_known(delivery_id: int) -> bool:
    return (
        db.session.scalar(
            select(Visitor.id).where(
                Visitor.delivery_id == delivery_id, Visitor.forwarded.is_(False)
            )
        )
        is not None
    )


@dataclass(frozen=True)
class Reader:
    """Whose action a request of a delivery is: the customer it counts for (None: nobody's,
    a forwarded reader not identified) and the device's Visitor (None: not known yet)."""

    customer_id: int | None
    visitor_id: int | None


def reader_of(delivery: Delivery | Any, device: str | None) -> Reader:
    """The reader behind a download or a click of delivery (anything with id and
    customer_id) from this device: a forwarded reader's own, else the customer's."""
    visitor = _visitor(delivery.id, device)
    if visitor is None or not visitor.forwarded:
        return Reader(delivery.customer_id, visitor.id if visitor else None)
    return Reader(visitor.customer_id, visitor.id)


def device_mark(device: str) -> str:
    """A device id as events may keep it (portal visits): keyed with the app's secret, never
    the cookie's value (which would let whoever reads an export pass for that browser) nor a
    plain hash (which would link one browser across customers' exports)."""
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hashlib.blake2b(device.encode(), digest_size=8, key=secret[:64], person=b"portal-dev")
    return digest.hexdigest()


@dataclass(frozen=True)
class PortalReader:
    """Whose a confirmed portal visit is: `counts` for customer_id (the recipient's, or an
    identified reader's contact's), or not (another device: shown, never scored); visitor_id:
    the device's Visitor as a forwarded reader, if it is one."""

    counts: bool
    customer_id: int | None
    visitor_id: int | None


def portal_reader(
    customer_id: int, device: str | None, first_portal_device: Callable[[], str | None]
) -> PortalReader:
    """The reader of a portal page of customer_id on this device. The portal lists every send
    of the customer, so a device counts only with nothing against it, in this order:

    - no cookie: the recipient, as in the viewer;
    - a forwarded reader of any of the customer's sends is not the recipient, even if it is
      the recipient of another (a forwarded reader may be first on a send the customer has
      not opened); an identified one's visits count for their contact;
    - the recipient's device on a send counts;
    - the device of the customer's first counted portal visit (`first_portal_device()`, its
      device_mark, read only when the rule gets this far) counts, whichever device later
      opens a document;
    - any other device counts only while neither is known: it is then the first."""
    recipient = PortalReader(True, customer_id, None)
    if not device:
        return recipient
    seen = db.session.scalars(
        select(Visitor)
        .join(Delivery, Delivery.id == Visitor.delivery_id)
        .where(Delivery.customer_id == customer_id, Visitor.device_id == device)
        .order_by(Visitor.id)
    ).all()
    forwarded = [visitor for visitor in seen if visitor.forwarded]
    if forwarded:
        named = next((visitor for visitor in forwarded if visitor.customer_id is not None), None)
        if named is not None:
            return PortalReader(True, named.customer_id, named.id)
        return PortalReader(False, None, forwarded[0].id)
    if seen:
        return recipient
    other = PortalReader(False, None, None)
    mark = first_portal_device()
    if mark is not None:
        return recipient if mark == device_mark(device) else other
    recipient_known = db.session.scalar(
        select(Visitor.id)
        .join(Delivery, Delivery.id == Visitor.delivery_id)
        .where(Delivery.customer_id == customer_id, Visitor.forwarded.is_(False))
        .limit(1)
    )
    return other if recipient_known is not None else recipient


def identified_name(delivery_id: int, device: str | None) -> str | None:
    """The name a forwarded reader on this device gave (the "您是？" card), for the reader's
    mark (portal.delivery.watermarks); None for the recipient's device or an unnamed one."""
    visitor = _visitor(delivery_id, device)
    if visitor is None or not visitor.forwarded:
        return None
    return visitor.name or None


def card_for(delivery: Delivery, device: str | None) -> str:
    """Which "您是？" card this device gets on opening delivery: AskVisitor.OFF (none),
    OPTIONAL or REQUIRED. Only a device other than the recipient's is asked, and only once
    it has not answered: the first device to open is the recipient's."""
    if delivery.ask_visitor == AskVisitor.OFF or not device:
        return AskVisitor.OFF.value
    visitor = _visitor(delivery.id, device)
    if visitor is not None:
        if not visitor.forwarded or visitor.customer_id is not None or visitor.name:
            return AskVisitor.OFF.value
    elif not _recipient_known(delivery.id):
        return AskVisitor.OFF.value  # this device will be the recipient's
    return delivery.ask_visitor


# --- confirming an open ----------------------------------------------------------------------


def attach(session: ViewSession, delivery: Delivery, device: str | None, now: datetime) -> None:
    """Attach a session being confirmed to its device's Visitor (created on first use): the
    session's reading then counts for that visitor's customer (None: nobody's). Tells the rep,
    once per visitor, that the document was forwarded."""
    if not device:
        return  # no cookie: the recipient's, as before devices were told apart
    visitor = _visitor_or_new(
        delivery.id, delivery.customer_id, device, session.user_agent or "", now
    )
    visitor.last_seen_at = now
    if session.user_agent:
        visitor.user_agent = session.user_agent
    session.visitor_id = visitor.id
    session.customer_id = visitor.customer_id
    if visitor.forwarded and visitor.notified_at is None:
        _notify_forwarded(delivery, visitor, now)


def _notify_forwarded(delivery: Delivery, visitor: Visitor, now: datetime) -> None:
    # Compare-and-set: two tabs of one new device confirming at once notify once.
    won = db.session.execute(
        update(Visitor)
        .where(Visitor.id == visitor.id, Visitor.notified_at.is_(None))
        .values(notified_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return
    visitor.notified_at = now
    customer = delivery.customer
    device = describe(visitor.user_agent)
    notify(
        customer.owner,
        "delivery.forwarded",
        {
            "customer": customer.name,
            "document": delivery.template.name,
            "visitor": visitor.name or "",
            "device": device.as_json(),
        },
        url=f"/customers/{customer.id}/deliveries/{delivery.id}",
        customer_id=customer.id,
    )


# --- who the visitor is ---------------------------------------------------------------------


@dataclass
class VisitorCard:
    name: str = ""
    title: str = ""
    contact: str = ""  # a phone number or an e-mail address

    def cleaned(self) -> VisitorCard:
        card = VisitorCard(self.name.strip(), self.title.strip(), self.contact.strip())
        if not card.name:
            raise ValidationFailed("name is required", code="name_required", field="name")
        for field_name, top in (("name", NAME_MAX), ("title", TITLE_MAX), ("contact", CONTACT_MAX)):
            if len(getattr(card, field_name)) > top:
                raise ValidationFailed(
                    f"{field_name} is at most {top} characters",
                    code="too_long",
                    field=field_name,
                    limit=top,
                )
        return card

    def fields(self, company: str) -> CustomerFields:
        email = self.contact if "@" in self.contact else None
        phone = None if email else (self.contact or None)
        return CustomerFields(
            name=self.name, company=company, title=self.title, email=email, phone=phone
        )


def identify(delivery: Delivery, device: str, card: VisitorCard, user_agent: str = "") -> Visitor:
    """The reader on this device said who they are (the "您是？" card). A forwarded reader
    becomes a contact of the recipient's account, owned by the recipient's owner, and their
    reading so far is theirs; the recipient's own device is not asked (nothing changes)."""
    card = card.cleaned()
    now = utcnow()
    visitor = _visitor_or_new(delivery.id, delivery.customer_id, device, user_agent or "", now)
    if not visitor.forwarded or visitor.customer_id is not None:
        return visitor
    visitor.name, visitor.title, visitor.contact = card.name, card.title, card.contact
    recipient = delivery.customer
    account = recipient.account or (
        matching.find_or_create(matching.scope_of(recipient.owner), recipient.company or "")
    )
    fields = card.fields(recipient.company or "")
    if account is not None:
        contact = add_contact(account, recipient.owner, fields)
    else:  # the recipient has no company: the contact stands alone, as they do
        contact = create_customer(recipient.owner, fields)
    _attribute(visitor, contact.id)
    return visitor


def merge(user: User, visitor_id: int, contact_id: int) -> Visitor:
    """The rep says a visitor is one of their contacts: the visitor's reading becomes that
    contact's (the contact the visitor was identified as, if any, keeps their details but
    loses this reading). NotFound unless the user may see both the visitor's delivery and the
    contact."""
    visitor = db.session.get(Visitor, visitor_id)
    if visitor is None or not visitor.forwarded:
        raise NotFound("visitor not found")
    delivery = db.session.get(Delivery, visitor.delivery_id)
    if delivery is None:
        raise NotFound("visitor not found")
    get_customer(user, delivery.customer_id)  # NotFound outside the user's scope
    contact = get_customer(user, contact_id)
    before = visitor.customer_id
    _attribute(visitor, contact.id)
    if before is not None and before != contact.id:
        recompute([before])
    return visitor


def _attribute(visitor: Visitor, customer_id: int) -> None:
    """From now on, and for everything already recorded, the visitor's reading counts for
    customer_id; its points are rebuilt from the events (`scores recompute`'s path, so the
    ledger is the one a recompute gives)."""
    visitor.customer_id = customer_id
    sessions = select(ViewSession.id).where(ViewSession.visitor_id == visitor.id)
    db.session.execute(
        update(ViewSession)
        .where(ViewSession.visitor_id == visitor.id)
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    )
    moved = db.session.execute(
        update(Event)
        .where(or_(Event.visitor_id == visitor.id, Event.session_id.in_(sessions)))
        .where(Event.type != "link.fetched")
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.flush()
    # The reading may now be the recipient's own (or no longer be): the send's rollups recounted.
    rollups.rebuild([visitor.delivery_id])
    if moved:
        recompute([customer_id])


# --- what the rep sees ----------------------------------------------------------------------


def visitors_of(delivery: Delivery) -> list[dict[str, Any]]:
    """The devices that opened delivery, first seen first, as GET /api/v1/deliveries/<id>
    lists them: {"id", "device", "identified_as", "first_seen", "read_seconds", "forwarded"}."""
    return visitors_by_delivery([delivery.id]).get(delivery.id, [])


def visitors_by_delivery(delivery_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """visitors_of for many deliveries in three queries (the customer page lists them all)."""
    rows = db.session.scalars(
        select(Visitor).where(Visitor.delivery_id.in_(delivery_ids)).order_by(Visitor.id)
    ).all()
    if not rows:
        return {}
    read_ms: dict[int, int] = {}
    for visitor_id, credited in db.session.execute(
        select(ViewSession.visitor_id, ViewSession.credited_ms).where(
            ViewSession.visitor_id.in_([v.id for v in rows])
        )
    ):
        read_ms[visitor_id] = read_ms.get(visitor_id, 0) + int(credited or 0)
    contacts = {
        c.id: c
        for c in db.session.scalars(
            select(Customer).where(Customer.id.in_({v.customer_id for v in rows if v.customer_id}))
        )
    }
    items: dict[int, list[dict[str, Any]]] = {}
    for visitor in rows:
        contact = contacts.get(visitor.customer_id) if visitor.forwarded else None
        identified = None
        if contact is not None:
            identified = {
                "name": contact.name,
                "title": contact.title or "",
                "contact": contact.email or contact.phone or visitor.contact or "",
                "customer_id": contact.id,
            }
        items.setdefault(visitor.delivery_id, []).append(
            {
                "id": visitor.id,
                "device": describe(visitor.user_agent).as_json(),
                "identified_as": identified,
                "first_seen": visitor.first_seen_at.isoformat(),
                "read_seconds": round(read_ms.get(visitor.id, 0) / 1000),
                "forwarded": visitor.forwarded,
            }
        )
    return items


def merge_choices(user: User, customer: Customer) -> list[Customer]:
    """The contacts a visitor of customer's deliveries may be merged into: customer and the
    other contacts of its account that user may see."""
    from portal.customers.services import visible_to

    if customer.account_id is None:
        return [customer]
    return list(
        db.session.scalars(
            select(Customer)
            .where(Customer.account_id == customer.account_id, visible_to(user))
            .order_by(Customer.id != customer.id, Customer.name)
        )
    )
