"""Staff web forms: sign in, sign out, language switch. Every one carries a CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from portal.accounts.models import Role

ROLE_LABELS = {
    Role.MARKETING.value: _l("Marketing"),
    Role.REP.value: _l("Sales rep"),
    Role.SUPERVISOR.value: _l("Supervisor"),
    Role.ADMIN.value: _l("Administrator"),
    Role.FINANCE.value: _l("Finance"),
    Role.LEGAL.value: _l("Legal"),
}

LANGUAGE_LABELS = {"zh_CN": "中文", "en": "English"}


class LoginForm(FlaskForm):
    email = StringField(
        _l("E-mail"),
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=254, message=_l("That e-mail address is too long.")),
        ],
        render_kw={"autocomplete": "username", "inputmode": "email", "autocapitalize": "none"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST so no other site can trigger it."""


class LanguageForm(FlaskForm):
    lang = HiddenField(validators=[AnyOf(list(LANGUAGE_LABELS))])
    next = HiddenField()
