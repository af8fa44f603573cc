"""The e-mail a rep sends with a delivery: their message, the personal link, an open pixel."""

from __future__ import annotations

import logging
import smtplib

from flask import current_app, render_template
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select

from portal.branding import rep_cards
from portal.branding import service as branding
from portal.db_types import utcnow
from portal.delivery.models import Bundle, Delivery, EmailStatus
from portal.delivery.sent_links import bundle_link_of, bundle_url, sent_view
from portal.extensions import db
from portal.mail import send_mail
from portal.tracking import links

log = logging.getLogger(__name__)

PIXEL_SALT = "pixel"
DEFAULT_ACCENT = "#0b5cad"  # the button's colour when no brand colour is set


def pixel_url(delivery: Delivery) -> str:
    token = links.sign(delivery.id, PIXEL_SALT)
    return links.external_url("mail.open_pixel", token=token)


def delivery_for_pixel(token: str) -> int | None:
    value = links.unsign(token, PIXEL_SALT)
    return value if isinstance(value, int) else None


def send_delivery_email(delivery_id: int) -> None:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.revoked_at is not None or not delivery.customer.email:
        return
    _send(delivery, [delivery], sent_view(delivery).url, delivery.template.name, pixel=True)


def send_bundle_email(bundle_id: int) -> None:
    """One e-mail for a bundle (资料包): its one link; each of its deliveries records what
    became of it (email_status)."""
    bundle = db.session.get(Bundle, bundle_id)
    deliveries = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.bundle_id == bundle_id, Delivery.revoked_at.is_(None))
            .order_by(Delivery.id)
        )
    )
    if bundle is None or not deliveries or not bundle.customer.email:
        return
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        title = bundle_title(len(deliveries))
    # No open pixel: the e-mail's open would be no one document's.
    _send(deliveries[0], deliveries, bundle_url(bundle_link_of(bundle)), title, pixel=False)


def bundle_title(count: int) -> str:
    """A bundle's title, the same on its page, its share card and its e-mail (资料包：3 份资料)."""
    return ngettext("Bundle: %(num)d document", "Bundle: %(num)d documents", count)


def _send(
    delivery: Delivery, deliveries: list[Delivery], url: str, document: str, *, pixel: bool
) -> None:
    """The e-mail of `delivery` (its message, rep and customer) opening `url`."""
    sent = sent_view(delivery)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = gettext(
            "%(rep)s sent you “%(document)s”",
            rep=delivery.sender.name,
            document=document,
        )
        brand = branding.brand()
        context = {
            "brand": brand,
            "accent": brand.accent_color or DEFAULT_ACCENT,
            "logo_url": links.external_url("customer.brand_image", name=brand.logo_name)
            if brand.logo_name
            else None,
            "rep_card": rep_cards.card_of(delivery.sender),
            "delivery": delivery,
            "document": document,
            "customer": delivery.customer,
            "rep": delivery.sender,
            "url": url,
            "portal_url": sent.portal_url,
            "pixel_url": pixel_url(delivery) if pixel else None,
        }
        text = render_template("email/delivery.txt", **context)
        html = render_template("email/delivery.html", **context)
    try:
        accepted = send_mail(delivery.customer.email, subject, text, html)
    except (smtplib.SMTPException, OSError) as exc:
        # Stored, not raised: the rep is told on the send page and copies the link instead.
        log.warning("delivery %s: the e-mail was not sent: %r", delivery.id, exc)
        for each in deliveries:
            each.email_status = EmailStatus.FAILED
        return
    for each in deliveries:
        if accepted is None:
            each.email_status = EmailStatus.NOT_CONFIGURED
        else:
            each.email_status = EmailStatus.SENT
            each.email_sent_at = utcnow()
