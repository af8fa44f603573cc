"""Staff forms of branding: the company's brand (admins) and one's own contact card."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField

from portal.branding.rep_cards import MAX_PHONE, MAX_TITLE, MAX_WECHAT
from portal.branding.service import MAX_COMPANY
from portal.errors import PortalError
from portal.form_errors import attach

_IMAGE_TYPES = "image/png,image/jpeg,image/webp"


class BrandForm(FlaskForm):
    company_name = StringField(
        _l("Company name"),
        description=_l("Shown at the top of every customer page and in the e-mail."),
        render_kw={"maxlength": MAX_COMPANY},
    )
    accent_color = StringField(
        _l("Accent colour"),
        description=_l("A hex colour such as #1a6fd1, for buttons and lines. Empty: Portal blue."),
        render_kw={"maxlength": 7, "placeholder": "#1a6fd1", "pattern": "#?[0-9A-Fa-f]{6}"},
    )
    logo = FileField(
        _l("Logo"),
        description=_l("PNG, JPEG or WebP, at most 2 MiB. Leave empty to keep the current logo."),
        render_kw={"accept": _IMAGE_TYPES},
    )
    remove_logo = BooleanField(_l("Remove the logo"))


class RepCardForm(FlaskForm):
    job_title = StringField(_l("Job title"), render_kw={"maxlength": MAX_TITLE})
    phone = StringField(
        _l("Phone"),
        description=_l("Customers can tap it to call you, e.g. +86 138 0013 8000."),
        render_kw={"maxlength": MAX_PHONE, "autocomplete": "tel", "inputmode": "tel"},
    )
    wechat_id = StringField(_l("WeChat ID"), render_kw={"maxlength": MAX_WECHAT})
    wechat_qr = FileField(
        _l("WeChat QR code"),
        description=_l("An image of your WeChat QR code (PNG, JPEG or WebP, at most 2 MiB)."),
        render_kw={"accept": _IMAGE_TYPES},
    )
    remove_qr = BooleanField(_l("Remove the QR code"))


def attach_error(form: FlaskForm, exc: PortalError) -> None:
    """The service's error on the field it names, with the catalogue's sentence for its code."""
    attach(form, exc)
