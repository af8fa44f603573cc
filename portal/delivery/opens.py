"""E-mail opens, recorded through the one event path."""

from __future__ import annotations

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking.events import NewEvent, record
from portal.tracking.models import EventType


def record_email_open(delivery_id: int) -> bool:
    """Record `email.opened` for a live delivery; False when there is none."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.revoked_at is not None:
        return False
    record(
        NewEvent(
            customer_id=delivery.customer_id,
            delivery_id=delivery.id,
            type=EventType.EMAIL_OPENED,
        )
    )
    return True
