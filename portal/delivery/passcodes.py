"""A send's passcode: 4 to 8 digits the rep gives the customer apart from the link.

Stored only as a hash. Until a browser has entered it, the viewer shows the passcode page and
nothing of the document (not its title, its message, its pages or its file), and the portal
lists it without a title. Once entered right, the browser holds a grant for that delivery: an
entry in one signed cookie (its own salt: it opens nothing else), bound to the delivery and to
the passcode set on it, so the device reads on without asking again.

Guessing is slowed by rate limits on the passcode form (portal.routes.rate_limits,
PASSCODE_RATE_LIMIT and PASSCODE_LINK_RATE_LIMIT), which count wrong passcodes only: they are
what protects a 4-digit code, whose hash alone could be searched in seconds. The hash is
scrypt at a lower work factor than staff passwords' (a check costs ~75 ms, not ~250 ms) so the
passcode form is no lever to load the server.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from portal.delivery.models import Delivery
from portal.errors import NotFound, PortalError, ValidationFailed

PASSCODE = re.compile(r"[0-9]{4,8}")
HASH_METHOD = "scrypt:16384:8:1"
COOKIE = "portal_unlocked"
COOKIE_MAX_AGE = 30 * 24 * 3600  # seconds a device keeps its grants after the last unlock
SALT = "delivery-passcode"
MAX_GRANTS = 50  # the cookie keeps the newest grants (a cookie holds about 4 KB)


class PasscodeRequired(PortalError):
    """This browser has not entered the delivery's passcode (no detail of the document)."""

    status = 403
    code = "passcode_required"


class WrongPasscode(PortalError):
    status = 401
    code = "wrong_passcode"


def hash_passcode(value: Any) -> str | None:
    """The hash to store for a send's passcode (None or "": no passcode); ValidationFailed
    (field passcode) unless it is 4 to 8 digits."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not PASSCODE.fullmatch(value):
        raise ValidationFailed(
            "passcode must be 4 to 8 digits", code="invalid_passcode", field="passcode"
        )
    return generate_password_hash(value, method=HASH_METHOD)


def fingerprint(passcode_hash: str | None) -> str:
    """A short name of the passcode set on a delivery ("" when none): a grant names it, so a
    grant for one passcode opens nothing once another is set."""
    if not passcode_hash:
        return ""
    return hashlib.sha256(passcode_hash.encode()).hexdigest()[:16]


def _grant(delivery_id: int, passcode_fingerprint: str) -> str:
    return f"{delivery_id}.{passcode_fingerprint}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def grants_of(cookie: str | None) -> list[str]:
    """The grants a browser's cookie holds (none when it is missing, tampered or too old)."""
    if not cookie:
        return []
    try:
        grants = _serializer().loads(cookie, max_age=COOKIE_MAX_AGE)
    except BadSignature:  # SignatureExpired is one
        return []
    if not isinstance(grants, list):
        return []
    return [g for g in grants if isinstance(g, str)]


def is_unlocked(delivery_id: int, passcode_fingerprint: str, grants: list[str]) -> bool:
    """Whether a browser holding grants may see the delivery (always, when it has no passcode)."""
    return not passcode_fingerprint or _grant(delivery_id, passcode_fingerprint) in grants


def require(delivery_id: int, passcode_fingerprint: str, grants: list[str]) -> None:
    """PasscodeRequired unless the browser holding grants may see the delivery."""
    if not is_unlocked(delivery_id, passcode_fingerprint, grants):
        raise PasscodeRequired("this document asks for its passcode")


def locked(delivery: Delivery, grants: list[str]) -> bool:
    return not is_unlocked(delivery.id, fingerprint(delivery.passcode_hash), grants)


def unlock(delivery: Delivery, entered: str | None, grants: list[str]) -> str:
    """The browser's new cookie value once it entered delivery's passcode right; WrongPasscode
    otherwise (and NotFound for a delivery that has none: there is nothing to enter)."""
    if not delivery.passcode_hash:
        raise NotFound("this document has no passcode")
    entered = (entered or "").strip()
    if not PASSCODE.fullmatch(entered) or not check_password_hash(delivery.passcode_hash, entered):
        raise WrongPasscode("wrong passcode")
    grant = _grant(delivery.id, fingerprint(delivery.passcode_hash))
    kept = [g for g in grants if g != grant][-(MAX_GRANTS - 1) :]
    return _serializer().dumps([*kept, grant])
