"""Service errors (PortalError) shown on staff forms, in the reader's language.

An error lands on the form field its `field` names (a form may rename a service's field: the
JSON member `owner_email` is the customer form's `owner`), else on the form as a whole; what it
says is the error catalogue's sentence for its `code` (portal.error_catalogue). Nothing here
reads the service's English wording to decide anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm

from portal import error_catalogue
from portal.errors import PortalError


def attach(
    form: FlaskForm,
    exc: PortalError,
    *,
    fields: Mapping[str, str] | None = None,
    default_field: str | None = None,
    texts: Mapping[str, object] | None = None,
) -> None:
    """Put a service error on the field it concerns, else on the form as a whole.

    fields: the service's field name -> this form's field name, where they differ.
    default_field: where an error without a field goes on this form (None: the whole form).
    texts: this form's own sentence for a generic code (e.g. not_found), by code.
    """
    name = exc.field or default_field
    name = (fields or {}).get(name or "", name)
    own = (texts or {}).get(exc.code)
    shown = str(own) if own is not None else error_catalogue.message_for(exc)
    field = form._fields.get(name) if name else None
    if field is not None:
        field.errors = [*list(field.errors or []), shown]
    else:
        form.form_errors.append(shown)
