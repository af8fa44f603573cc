"""The e-mail a rep sends with a delivery: their message, the personal link, an open pixel."""

from __future__ import annotations

import logging
import smtplib

from flask import current_app, render_template
from flask_babel import force_locale, gettext

from portal.branding import rep_cards
from portal.branding import service as branding
from portal.db_types import utcnow
from portal.delivery.models import Delivery, EmailStatus
from portal.delivery.sent_links import sent_view
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
    sent = sent_view(delivery)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = gettext(
            "%(rep)s sent you “%(document)s”",
            rep=delivery.sender.name,
            document=delivery.template.name,
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
            "customer": delivery.customer,
            "rep": delivery.sender,
            "url": sent.url,
            "portal_url": sent.portal_url,
            "pixel_url": pixel_url(delivery),
        }
        text = render_template("email/delivery.txt", **context)
        html = render_template("email/delivery.html", **context)
    try:
        accepted = send_mail(delivery.customer.email, subject, text, html)
    except (smtplib.SMTPException, OSError) as exc:
        # Stored, not raised: the rep is told on the send page and copies the link instead.
        log.warning("delivery %s: the e-mail was not sent: %r", delivery.id, exc)
        delivery.email_status = EmailStatus.FAILED
        return
    if accepted is None:
        delivery.email_status = EmailStatus.NOT_CONFIGURED
        return
    delivery.email_status = EmailStatus.SENT
    delivery.email_sent_at = utcnow()
