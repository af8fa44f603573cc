"""Staff forms of privacy: the erasure's confirmation, the privacy statement's settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import DataRequired


class EraseForm(FlaskForm):
    """Erasure cannot be undone: the admin ticks that they understand."""

    confirm = BooleanField(
        _l("I understand: this person's data is erased for good and cannot be restored."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )
