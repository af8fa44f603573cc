from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField

from portal.audit.labels import ACTION_LABELS
from portal.form_fields import choices


class AuditFilterForm(FlaskForm):
    """The GET filter of the audit log (no CSRF: it changes nothing). It only renders what was
    asked; `portal.audit.service.AuditQuery.parse` validates the same query string."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), choices=[])
    actor = StringField(_l("Actor"), render_kw={"placeholder": _l("E-mail, cli or system")})
    since = DateField(_l("From"))
    until = DateField(_l("To"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.action.choices = choices(ACTION_LABELS, first=("", _l("All")))
