"""Staff web forms of customers: the new-customer form and the list's search.

They parse and describe input; the rules (who may own a customer, a valid e-mail) live in
portal.customers.services, whose errors are put on the field they concern by `attach_error`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.accounts.models import User
from portal.customers.services import CustomerFields
from portal.errors import PortalError
from portal.form_errors import attach as attach_generic


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _text(label, max_length: int, **kwargs) -> StringField:
    return StringField(
        label,
        validators=[Optional(), Length(max=max_length, message=_l("At most %(max)d characters."))],
        filters=[_strip],
        **kwargs,
    )


def owner_label(user: User) -> str:
    return f"{user.name} · {user.email}"


class CustomerForm(FlaskForm):
    name = StringField(
        _l("Full name"),
        validators=[
            DataRequired(_l("Enter the customer's name.")),
            Length(max=120, message=_l("At most %(max)d characters.")),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "off"},
    )
    company = _text(_l("Company"), 200, render_kw={"autocomplete": "off"})
    title = _text(_l("Job title"), 120, render_kw={"placeholder": _l("e.g. Purchasing director")})
    email = _text(
        _l("E-mail"),
        254,
        description=_l("Needed to send materials by e-mail; links can always be copied."),
        render_kw={"type": "email", "inputmode": "email", "autocapitalize": "none"},
    )
    phone = _text(_l("Phone"), 40, render_kw={"type": "tel", "inputmode": "tel"})
    industry = _text(_l("Industry"), 80)
    region = _text(_l("Region"), 80)
    owner = SelectField(
        _l("Owner (sales rep)"),
        choices=[],
        validate_choice=False,  # the service checks that the owner is one of the user's reps
    )

    def set_owners(self, owners: list[User], *, choose: bool) -> None:
        """choose: the user picks the owner (supervisors, admins); else the field is unused."""
        if not choose:
            del self.owner
            return
        first = [("", _l("Choose a rep…"))] if len(owners) != 1 else []
        self.owner.choices = first + [(u.email, owner_label(u)) for u in owners]

    def to_fields(self) -> CustomerFields:
        return CustomerFields(
            name=self.name.data or "",
            company=self.company.data or "",
            title=self.title.data or "",
            email=self.email.data or None,
            phone=self.phone.data or None,
            industry=self.industry.data or None,
            region=self.region.data or None,
        )

    def owner_email(self) -> str | None:
        field = self._fields.get("owner")
        return (field.data or None) if field is not None else None


class CustomerFilterForm(FlaskForm):
    """The GET search of the customer list (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), render_kw={"placeholder": _l("Name or company…")})
    owner = SelectField(_l("Owner"), choices=[], coerce=str)

    def set_owners(self, owners: list[User]) -> None:
        self.owner.choices = [("", _l("Every rep"))] + [(str(u.id), u.name) for u in owners]

    @property
    def owner_id(self) -> int | None:
        value = self.owner.data or ""
        return int(value) if value.isdigit() else None

    @property
    def active(self) -> bool:
        return bool((self.q.data or "").strip() or self.owner_id)


# The service's field names that differ from this form's.
_FIELDS = {"owner_email": "owner"}
# What name_required means on the customer form.
_TEXTS = {"name_required": _l("Enter the customer's name.")}


class RecommendForm(FlaskForm):
    """The customer's chat message, pasted by the rep, for template recommendations."""

    text = TextAreaField(
        _l("The customer's message"),
        validators=[
            DataRequired(_l("Paste the customer's message first.")),
            Length(max=5000, message=_l("At most %(max)d characters.")),
        ],
        filters=[_strip],
        description=_l("Paste what the customer wrote in your chat: we suggest materials."),
        render_kw={"rows": 3, "maxlength": 5000},
    )


def attach_error(form: FlaskForm, exc: PortalError) -> None:
    """Put a customer service error on the field it concerns, in the reader's language."""
    attach_generic(form, exc, fields=_FIELDS, texts=_TEXTS)
