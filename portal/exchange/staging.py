"""The uploaded sheet, kept between preview and confirm in object storage (not on one node).

Key: imports/<user id>/<unix time>-<kind>-<random>: the confirm step names the key, and only
its own user's keys, younger than STAGE_SECONDS, are found. Applying deletes it; a new upload
clears the user's expired ones.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from flask_babel import gettext as _

from portal.accounts.models import User
from portal.customers.services import may_have_customers
from portal.errors import NotFound, PermissionDenied
from portal.library.storage import ObjectNotFound, get_storage

STAGE_SECONDS = 3600
_KEY = re.compile(r"imports/(\d+)/(\d{10})-(customers|deals)-([0-9a-f]{32})")


@dataclass(frozen=True)
class Staged:
    key: str
    kind: str
    data: bytes


def _prefix(user: User) -> str:
    return f"imports/{user.id}/"


def stage(user: User, kind: str, data: bytes, now: float | None = None) -> str:
    """Store the upload for the confirm step; the key to confirm it by."""
    if not may_have_customers(user):
        raise PermissionDenied(_("Only reps, supervisors and admins import customers and deals."))
    now = time.time() if now is None else now
    storage = get_storage()
    for old in storage.list(_prefix(user)):
        match = _KEY.fullmatch(old)
        if match is None or int(match.group(2)) + STAGE_SECONDS < now:
            storage.delete(old)
    key = f"{_prefix(user)}{int(now):010d}-{kind}-{secrets.token_hex(16)}"
    storage.put(key, data, "application/octet-stream")
    return key


def load(user: User, key: str, now: float | None = None) -> Staged:
    """The staged upload of this user under key; NotFound when it is someone else's, gone or
    expired (all look the same)."""
    now = time.time() if now is None else now
    match = _KEY.fullmatch(key or "")
    gone = NotFound(_("This upload has expired or was already imported; upload the file again."))
    if match is None or int(match.group(1)) != user.id:
        raise gone
    if int(match.group(2)) + STAGE_SECONDS < now:
        get_storage().delete(key)
        raise gone
    try:
        data = get_storage().get(key)
    except ObjectNotFound:
        raise gone from None
    return Staged(key, match.group(3), data)


def discard(key: str) -> None:
    get_storage().delete(key)
