"""Staff forms of privacy: the erasure's confirmation, the privacy statement's settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired

from portal.privacy.notice import MAX_TEXT, MAX_URL


class EraseForm(FlaskForm):
    """Erasure cannot be undone: the admin ticks that they understand."""

    confirm = BooleanField(
        _l("I understand: this person's data is erased for good and cannot be restored."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )


class StatementForm(FlaskForm):
    """Where customer pages link for the company's privacy statement."""

    url = StringField(
        _l("Privacy statement URL"),
        description=_l("Your company's own page. Leave empty to have Portal show the text below."),
        render_kw={"maxlength": MAX_URL, "placeholder": "https://"},
    )
    text = TextAreaField(
        _l("Privacy statement text"),
        description=_l("Shown at /privacy when no URL is set. Empty: Portal's standard text."),
        render_kw={"rows": 10, "maxlength": MAX_TEXT},
    )
