"""Staff forms of branding: the company's brand (admins) and one's own contact card."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField

from portal.branding.rep_cards import MAX_PHONE, MAX_TITLE, MAX_WECHAT
from portal.branding.service import MAX_COMPANY
from portal.errors import PortalError

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


# What to tell the user, in their language, for each service error code.
ERROR_TEXT = {
    "accent_color_invalid": _l("Enter a hex colour such as #1a6fd1."),
    "accent_color_too_light": _l(
        "This colour is too light: white text on buttons would be hard to read. "
        "Choose a darker one."
    ),
    "company_name_too_long": _l("The company name is too long."),
    "image_invalid": _l("The file is not an image. Upload a PNG, JPEG or WebP image."),
    "image_too_large": _l("The image is too large: at most 2 MiB and 4096 × 4096 pixels."),
    "job_title_too_long": _l("The job title is too long."),
    "phone_invalid": _l("Enter a phone number: digits, spaces, +, - and parentheses."),
    "wechat_id_invalid": _l("Enter a WeChat ID: letters, digits, - and _."),
}


def attach_error(form: FlaskForm, exc: PortalError) -> None:
    """The service's error on the field it names, in the reader's language."""
    field = form._fields.get(exc.field or "")
    text = str(ERROR_TEXT.get(exc.code, exc.message))
    if field is None:
        form.form_errors.append(text)
    else:
        field.errors = [*list(field.errors or []), text]
