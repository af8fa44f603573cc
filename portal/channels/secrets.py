"""Channel secrets at rest: Fernet (cryptography) keyed from the app's secret key.

A robot's webhook URL and its signing secret let anyone post into a customer-facing team's
group, so neither is stored in clear text. The key is derived from SECRET_KEY with a purpose
label, so it is not the session-signing key itself. Changing SECRET_KEY makes the stored
channels unreadable: their sends fail with `secret_unreadable` and they must be added again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from portal.errors import PortalError


class SecretUnreadable(PortalError):
    status = 500
    code = "secret_unreadable"


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"]
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    key = hashlib.sha256(b"portal.channels.secrets\0" + raw).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the channel's stored secret cannot be decrypted") from None
