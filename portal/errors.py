"""Errors that services raise; routes turn them into pages or JSON."""

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
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        if field:
            self.field = field


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
