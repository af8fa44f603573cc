"""Staff web forms of deliveries: send a material, reply to a comment, withdraw a link.

They parse and describe input; the rules (who may send what, expiry limits, e-mail needs an
address) live in portal.delivery.services and portal.delivery.comments, whose errors are put
on the field they concern by `attach_error`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from portal.delivery.bulk import BulkOptions
from portal.delivery.bundles import MAX_DOCUMENTS
from portal.delivery.comments import MAX_COMMENT_LENGTH
from portal.delivery.services import MAX_EXPIRY_DAYS, MAX_MESSAGE_LENGTH, SendRequest
from portal.errors import PortalError
from portal.form_errors import attach as attach_generic
from portal.form_fields import MultiCheckboxField, choices
from portal.library.forms import POLICY_LABELS
from portal.library.models import Template


def _template_id(value: object) -> int | None:
    if value in (None, ""):
        return None
    return int(value)  # type: ignore[arg-type]  (WTForms turns a ValueError into an error)


class SendForm(FlaskForm):
    template_id = SelectField(
        _l("Material"),
        coerce=_template_id,
        validate_choice=False,  # the service decides what this user may send (404 otherwise)
        validators=[InputRequired(_l("Choose what to send."))],
    )
    more_template_ids = MultiCheckboxField(
        _l("Add more materials (one link for all: a bundle)"),
        coerce=int,
        validate_choice=False,  # the service decides what this user may send
        description=_l(
            "Optional. The customer opens one page listing every material; each is tracked on "
            "its own. At most %(num)d materials.",
            num=MAX_DOCUMENTS,
        ),
    )
    message = TextAreaField(
        _l("Message to the customer"),
        validators=[Optional()],
        description=_l("Optional. Shown above the document and in the e-mail."),
        render_kw={"rows": 2, "maxlength": MAX_MESSAGE_LENGTH},
    )
    send_email = BooleanField(_l("Also send it by e-mail"))
    version_policy = SelectField(
        _l("Customer sees"),
        choices=choices(POLICY_LABELS, first=("", _l("As the template is set up"))),
        default="",
        description=_l("Quotes usually keep the version that was sent."),
    )
    expires_in_days = IntegerField(
        _l("Link expires after (days)"),
        validators=[Optional()],
        description=_l(
            "Empty: the link does not expire. At most %(num)d days.", num=MAX_EXPIRY_DAYS
        ),
        render_kw={"inputmode": "numeric", "min": 1, "max": MAX_EXPIRY_DAYS},
    )
    allow_download = BooleanField(_l("Allow downloading the PDF"), default=True)
    watermark = SelectField(
        _l("Watermark (the customer's name on every page and in the downloaded PDF)"),
        choices=[
            ("", _l("On for quotes, off for other materials")),
            ("on", _l("On")),
            ("off", _l("Off")),
        ],
        default="",
    )
    passcode = StringField(
        _l("Passcode"),
        validators=[Optional()],
        description=_l(
            "Optional, 4 to 8 digits. The customer enters it before seeing anything of the "
            "document. Give it to them apart from the link; it is shown to you once."
        ),
        render_kw={
            "inputmode": "numeric",
            "pattern": "[0-9]{4,8}",
            "maxlength": 8,
            "autocomplete": "off",
        },
    )
    ask_visitor = SelectField(
        _l("If someone else opens the link"),
        choices=[
            ("off", _l("Ask nothing")),
            ("optional", _l("Ask who they are (they may skip)")),
            ("required", _l("Ask who they are before showing the document")),
        ],
        default="off",
        description=_l(
            "A forwarded reader is recorded apart from the customer; their answer makes them "
            "a contact of the same company."
        ),
    )

    def set_templates(self, templates: list[Template]) -> None:
        self.template_id.choices = [("", _l("Choose a material…"))] + [
            (t.id, t.name) for t in templates
        ]
        self.more_template_ids.choices = [SelectChoice(t.id, t.name) for t in templates]

    def to_request(self, customer_id: int) -> SendRequest:
        """One material, or a bundle when more were ticked (the first one chosen first; a
        material ticked twice is sent once)."""
        first = self.template_id.data or 0
        more = [t for t in (self.more_template_ids.data or []) if t != first]
        return SendRequest(
            customer_id=customer_id,
            template_id=None if more else first,
            template_ids=list(dict.fromkeys([first, *more])) if more else None,
            version_policy=self.version_policy.data or None,
            allow_download=bool(self.allow_download.data),
            expires_in_days=self.expires_in_days.data,
            message=self.message.data or "",
            send_email=bool(self.send_email.data),
            watermark={"on": True, "off": False}.get(self.watermark.data or ""),
            ask_visitor=self.ask_visitor.data or "off",
            passcode=((self.passcode.data or "").strip() or None) if self.passcode else None,
        )


class BulkSendForm(SendForm):
    """One material to many customers (portal.delivery.bulk): the send's options but the
    passcode (shown once per send, it has no place in a batch), and an optional list."""

    passcode = None
    file = FileField(
        _l("Or upload a list"),
        description=_l(
            "An .xlsx or .csv file with a header row naming its column: email or customer_id."
        ),
        render_kw={"accept": ".xlsx,.csv"},
    )

    def to_options(self) -> BulkOptions:
        request = self.to_request(0)
        return BulkOptions(
            version_policy=request.version_policy,
            allow_download=request.allow_download,
            expires_in_days=request.expires_in_days,
            message=request.message,
            send_email=request.send_email,
            watermark=request.watermark,
            ask_visitor=request.ask_visitor,
        )


class ReplyForm(FlaskForm):
    """A reply to a delivery's comments (one per delivery: prefix "reply-<id>")."""

    text = TextAreaField(
        _l("Your reply"),
        validators=[InputRequired(_l("Write your reply first."))],
        render_kw={"rows": 2, "maxlength": MAX_COMMENT_LENGTH},
    )


class DeliveryActionForm(FlaskForm):
    """Withdraw a link: a button and the CSRF token. The "link leaked / forwarded" button
    sends reason=leaked (portal.delivery.link_grants.RevokeReason)."""

    reason = HiddenField()


# --- service errors on the form ----------------------------------------------------------------

# What not_found means on the material the rep chose (never reveal that it exists).
_TEMPLATE_TEXTS = {
    "not_found": _l("This material is not available to you. Choose one from the list.")
}


_TEMPLATE_FIELDS = ("template_id", "template_ids")


def attach_error(form: FlaskForm, exc: PortalError) -> None:
    """Put a delivery service error on the field it concerns, in the reader's language."""
    attach_generic(
        form,
        exc,
        fields={"template_ids": "more_template_ids"},  # a bundle's list: the extra materials
        texts=_TEMPLATE_TEXTS if exc.field in _TEMPLATE_FIELDS else None,
    )
