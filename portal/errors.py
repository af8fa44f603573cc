"""Errors that services raise; routes turn them into pages or JSON.

An error is data: a stable `code` (what went wrong, the contract with API callers and forms), the
`field` it concerns (a form field or JSON member name, if one) and `params`, the values its
sentence names (a limit, a page). The English `message` is for API callers and logs; pages show
the catalogue's sentence for the code in the reader's language (portal.error_catalogue), so no
one ever has to read the English to know what an error means or where it belongs.
"""

from __future__ import annotations


class PortalError(Exception):
    status = 400
    code = "bad_request"

    field: str | None = None  # the form field or JSON member the error is about, if one

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        **params: object,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        if field:
            self.field = field
        # the values the catalogue's sentence for this code names, e.g. limit=200
        self.params: dict[str, object] = params


class ValidationFailed(PortalError):
    status = 422
    code = "validation_failed"


class NotFound(PortalError):
    """Missing, or outside the caller's scope: the two must look the same."""

    status = 404
    code = "not_found"


class PermissionDenied(PortalError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(PortalError):
    status = 413
    code = "payload_too_large"
