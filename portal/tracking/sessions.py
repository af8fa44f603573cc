"""View sessions: one open of one delivery, and the token its viewer reports with."""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from sqlalchemy import select

from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking import links
from portal.tracking.models import ViewSession

INGEST_SALT = "ingest"


def ip_hash(ip: str | None) -> str:
    """A keyed hash: sessions from one address can be grouped, the address not recovered."""
    key = current_app.config["SECRET_KEY"].encode()
    return hashlib.blake2b((ip or "").encode(), key=key[:64], digest_size=16).hexdigest()


def start_session(
    delivery: Delivery, version_number: int, user_agent: str, ip: str | None
) -> ViewSession:
    now = utcnow()
    session = ViewSession(
        public_id=secrets.token_urlsafe(12),
        delivery_id=delivery.id,
        customer_id=delivery.customer_id,
        version_number=version_number,
        started_at=now,
        last_seen_at=now,
        credited_ms=0,
        user_agent=(user_agent or "")[:400],
        ip_hash=ip_hash(ip),
    )
    db.session.add(session)
    db.session.flush()
    return session


def ingest_token(session: ViewSession) -> str:
    """What the viewer's script sends with each report; good for this session only."""
    return links.sign(session.id, INGEST_SALT)


def session_for_token(token: str) -> ViewSession | None:
    session_id = links.unsign(token, INGEST_SALT)
    if not isinstance(session_id, int):
        session_id = -1
    return db.session.scalar(select(ViewSession).where(ViewSession.id == session_id))
