"""View sessions: one open of one delivery, and the token its viewer reports with.

The ingest token is signed (salt "ingest", good for nothing else) and carries what the read-time
endpoint needs to check a report without the database:

    [session id, page count of the copy shown, delivery id, delivery expiry (epoch ms, 0: none),
     delivery created_at (epoch ms: with the id, it names the delivery's revocation tombstone)]

The page count is the customer's actual render (known when the viewer opens), not the sample
render's count on TemplateVersion: a personalised copy may have more pages. The delivery's expiry
is fixed when it is sent (nothing changes it later), so carrying it is as good as reading it;
revocation is not, and is checked live (portal.tracking.revocations). The token also expires on
its own after INGEST_MAX_AGE: a session's reports come while the page is open.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.tracking import address_salts, rollups
from portal.tracking.models import ViewSession

INGEST_SALT = "ingest"
INGEST_MAX_AGE = 24 * 3600  # seconds a viewer may keep reporting with one token


def ip_hash(ip: str | None) -> str:
    """A hash under the current rotating salt (portal.tracking.address_salts): sessions of one
    address within a salt period can be grouped; the address is never recoverable, and after
    the rotation not even matchable."""
    return address_salts.hash_address(ip)


def start_session(
    delivery: Delivery,
    version_number: int,
    user_agent: str,
    ip: str | None,
    *,
    confirmed: bool = True,
) -> ViewSession:
    """A new view session. The viewer starts its sessions unconfirmed (confirmed=False: the
    page was fetched, nobody is known to have seen it; portal.delivery.open_confirmation
    confirms them). Callers that stand for a reader themselves (the demo, scripts, tests of
    the read-time path) start them confirmed."""
    now = utcnow()
    session = ViewSession(
        public_id=secrets.token_urlsafe(12),
        delivery_id=delivery.id,
        customer_id=delivery.customer_id,
        version_number=version_number,
        started_at=now,
        last_seen_at=now,
        credited_ms=0,
        confirmed_at=now if confirmed else None,
        user_agent=(user_agent or "")[:400],
        ip_hash=ip_hash(ip),
    )
    db.session.add(session)
    db.session.flush()
    # A preview (or a scripted open) before any event names it: the send's rollup counts it.
    rollups.session_started(delivery.id)
    return session


@dataclass(frozen=True)
class IngestClaims:
    """What a valid ingest token says (see the module docstring)."""

    session_id: int
    page_count: int | None  # None: unknown (a token from before page counts were carried)
    delivery_id: int | None
    expires_at: datetime | None
    delivery_created_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class TokenExpired(Exception):
    """A genuine ingest token, older than INGEST_MAX_AGE."""


_serializers: dict[tuple[str, str], URLSafeTimedSerializer] = {}


def _serializer(secret: str | None = None) -> URLSafeTimedSerializer:
    # Built once per key: building one per request derives the signing key every time.
    secret = secret if secret is not None else current_app.config["SECRET_KEY"]
    serializer = _serializers.get((secret, INGEST_SALT))
    if serializer is None:
        serializer = URLSafeTimedSerializer(secret, salt=INGEST_SALT)
        _serializers[(secret, INGEST_SALT)] = serializer
    return serializer


def _epoch(moment: datetime | None) -> int:
    return round(moment.timestamp() * 1000) if moment is not None else 0


def ingest_token(session: ViewSession, page_count: int | None = None) -> str:
    """What the viewer's script sends with each report; good for this session only.

    page_count is the number of pages of the copy the viewer shows; without it, the page count
    of the version's sample render is used (scripts and tests that open sessions directly)."""
    delivery = db.session.get(Delivery, session.delivery_id)
    if page_count is None and delivery is not None:
        page_count = db.session.scalar(
            select(TemplateVersion.page_count).where(
                TemplateVersion.template_id == delivery.template_id,
                TemplateVersion.number == session.version_number,
            )
        )
    expires_at = delivery.expires_at if delivery is not None else None
    created_at = delivery.created_at if delivery is not None else None
    return _serializer().dumps(
        [session.id, page_count or 0, session.delivery_id, _epoch(expires_at), _epoch(created_at)]
    )


def _moment(epoch_ms: int) -> datetime | None:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@lru_cache(maxsize=8192)
def _verified(secret: str, token: str) -> tuple[Any, int]:
    """(value, signed at, epoch seconds) of a token whose signature is good; BadSignature else.

    A viewer sends the same token every 10 s while a document is open, so a verified signature
    is remembered per process: it is a function of the token and the key alone. Only good
    tokens are kept (an exception is never cached): a forged or random one pays the full HMAC
    every time. The age is checked by the caller on every use."""
    value, signed_at = _serializer(secret).loads(token, return_timestamp=True)
    if isinstance(value, list):
        value = tuple(value)
    return value, int(signed_at.timestamp())


def claims_of(token: str, max_age: int = INGEST_MAX_AGE) -> IngestClaims | None:
    """The claims of a good token; None for an unknown or tampered one; TokenExpired when it
    is genuine but too old."""
    try:
        value, signed_at = _verified(current_app.config["SECRET_KEY"], token)
    except BadSignature:
        return None
    age = time.time() - signed_at
    if age > max_age or age < 0:
        raise TokenExpired(f"token age {age:.0f} s, not within 0..{max_age} s")
    if _whole(value):  # the older form: the session id alone
        return IngestClaims(value, None, None, None)
    if (
        isinstance(value, tuple)
        and len(value) == 5
        and all(_whole(v) for v in value)
        and value[0] > 0
    ):
        session_id, pages, delivery_id, expires, created = value
        return IngestClaims(
            session_id, pages or None, delivery_id, _moment(expires), _moment(created)
        )
    return None


def session_for_token(token: str) -> ViewSession | None:
    try:
        claims = claims_of(token)
    except TokenExpired:
        claims = None
    session_id = claims.session_id if claims is not None else -1
    return db.session.scalar(select(ViewSession).where(ViewSession.id == session_id))
