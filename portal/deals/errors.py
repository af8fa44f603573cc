"""A deal rule's refusal: an English message for the API, plus a code and the values a staff
page needs to say the same in the reader's language (portal.routes.deals)."""

from __future__ import annotations

from portal.errors import ValidationFailed


class DealRefused(ValidationFailed):
    def __init__(self, code: str, message: str, *, field: str | None = None, **params: object):
        super().__init__(message, code=code, field=field, **params)
