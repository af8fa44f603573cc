"""Network addresses are stored only as hashes keyed with a salt that rotates (issue 18).

Time is cut into periods of PORTAL_ADDRESS_SALT_DAYS (default 1: a day, as privacy-minded
analytics do), counted from the Unix epoch in UTC. Each period has one random salt, made by the
first hash of the period (or by the tick, whichever comes first) in the `address_salts` table;
the salts of earlier periods are deleted then, not kept. So two sessions from one address within
a period carry the same hash, and a hash stored before a rotation can no longer be matched to an
address by anyone: the salt that made it no longer exists (retention deletes the stored hashes
themselves after PORTAL_EVENT_RETENTION_DAYS).

Why counting survives a rotation: nothing in Portal counts or groups by a stored hash across
periods. Rate limits per address (portal.routes.rate_limits) key on the address itself in their
Redis or in-memory window, which lives minutes and is never written to the database; distinct
readers and devices are told apart by the device cookie (portal.delivery.visitors), and opens
and read time by their view session. A hash only says "these sessions of one period came from
one network", and that is all a rotation takes away.

The salt is in the database (not in each node's memory or config) so that every app node and
worker hashes with the same salt in the same period, and deleting the row forgets it everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from portal.db_types import utcnow
from portal.extensions import db
from portal.tracking.models import AddressSalt

DEFAULT_DAYS = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def salt_days() -> int:
    """PORTAL_ADDRESS_SALT_DAYS: days one salt lives (at least 1)."""
    return max(int(current_app.config.get("ADDRESS_SALT_DAYS") or DEFAULT_DAYS), 1)


def period_of(moment: datetime) -> int:
    """The salt period `moment` falls in."""
    return (moment - EPOCH) // timedelta(days=salt_days())


def period_start(period: int) -> datetime:
    return EPOCH + period * timedelta(days=salt_days())


def _forget_older(period: int) -> int:
    """Delete the salts of periods before `period`: their hashes become unmatchable."""
    result = db.session.execute(
        delete(AddressSalt)
        .where(AddressSalt.period < period)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def current_salt(now: datetime | None = None) -> AddressSalt:
    """The salt of the period `now` falls in, made (and the older ones deleted) when it is the
    period's first use. Stored with the caller's transaction, like the hash made with it."""
    return _opened(period_of(now or utcnow()))[0]


def _opened(period: int) -> tuple[AddressSalt, int]:
    """The period's salt, and how many older salts its making deleted."""
    found = db.session.get(AddressSalt, period)
    if found is not None:
        return found, 0
    try:
        # Two requests may open the period at once: the second one's insert fails on the
        # primary key, and it uses the first one's salt.
        with db.session.begin_nested():
            found = AddressSalt(period=period, salt=secrets.token_hex(32), created_at=utcnow())
            db.session.add(found)
    except IntegrityError:
        found = db.session.get(AddressSalt, period, populate_existing=True)
        if found is None:  # pragma: no cover - the winner rolled back in between
            raise
    return found, _forget_older(period)


def hash_with(salt: str, address: str | None) -> str:
    """The keyed hash of an address under one salt (32 hex digits)."""
    return hashlib.blake2b(
        (address or "").encode(), key=bytes.fromhex(salt), digest_size=16
    ).hexdigest()


def hash_address(address: str | None, now: datetime | None = None) -> str:
    """The address's hash in the current period: equal for one address within a period, and
    not recoverable once the period's salt is gone."""
    return hash_with(current_salt(now).salt, address)


def rotate(now: datetime | None = None) -> int:
    """The tick's part: make sure the period of `now` has its salt and every older salt is
    gone, even when nobody was hashed since the period began. The number of salts deleted."""
    period = period_of(now or utcnow())
    _salt, deleted = _opened(period)
    return deleted + _forget_older(period)
