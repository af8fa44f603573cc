"""Validate an inbound event and store it through the one event path (record_many).

The customer is found by id or e-mail among the caller's customers only; an unknown customer and
one outside the caller's scope get the same 422 ("unknown customer").

An idempotency key is unique per customer: the stored key is "api:<customer id>:<key>", apart
from the viewer's keys and from every other customer's. A key used for another customer (another
team's, say) neither drops this event as a duplicate nor tells the caller that it was used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.services import normalize_email
from portal.customers.models import Customer
from portal.customers.services import visible_to
from portal.db_types import is_row_id, utcnow
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import Event, EventType

KEY_PREFIX = "api:"
MAX_KEY = 116  # the API's documented maxLength; stored with the prefix and a customer id (<=160)
MAX_PROPERTIES_BYTES = 8 * 1024
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)
# Activity of the customer: sets Customer.last_inbound_at.
INBOUND_TYPES = frozenset({EventType.REPLY_RECEIVED.value, EventType.FORM_SUBMITTED.value})
EXTERNAL_RE = re.compile(r"^external(\.[a-z0-9_]+)+$")


@dataclass
class Ingested:
    event: Event | None  # None: a duplicate of an earlier key
    customer: Customer

    @property
    def duplicate(self) -> bool:
        return self.event is None


def validate_type(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationFailed("type is required", code="required", field="type")
    if value in INBOUND_TYPES:
        return value
    if len(value) <= 40 and EXTERNAL_RE.match(value):
        return value
    raise ValidationFailed(
        "type must be reply.received, form.submitted or external.<name> "
        "(lower-case dotted name, at most 40 characters)",
        code="bad_event_type",
        field="type",
    )


def parse_occurred_at(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValidationFailed(
            "occurred_at is required (ISO 8601 with an offset)",
            code="required",
            field="occurred_at",
        )
    try:
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"occurred_at {value!r} is not an ISO 8601 date-time",
            code="bad_datetime",
            field="occurred_at",
        ) from None
    if at.tzinfo is None:
        raise ValidationFailed(
            "occurred_at needs a UTC offset, e.g. 2026-03-01T10:00:00+08:00",
            code="time_zone_required",
            field="occurred_at",
        )
    if at > now + MAX_FUTURE:
        raise ValidationFailed(
            "occurred_at is in the future", code="in_the_future", field="occurred_at"
        )
    if at < now - MAX_AGE:
        raise ValidationFailed(
            "occurred_at is more than a year ago", code="too_old", field="occurred_at"
        )
    return at


def validate_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            "idempotency_key is required", code="required", field="idempotency_key"
        )
    if len(value) > MAX_KEY:
        raise ValidationFailed(
            f"idempotency_key is longer than {MAX_KEY} characters",
            code="too_long",
            field="idempotency_key",
            limit=MAX_KEY,
        )
    return value


def validate_properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            "properties must be a JSON object", code="not_an_object", field="properties"
        )
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ValidationFailed(
            f"properties are over {MAX_PROPERTIES_BYTES} bytes",
            code="properties_too_large",
            field="properties",
            limit=MAX_PROPERTIES_BYTES,
        )
    return value


def stored_key(customer: Customer, key: str) -> str:
    """The events table's key for a caller's key: scoped to the customer (see the docstring)."""
    return f"{KEY_PREFIX}{customer.id}:{key}"


def find_customer(user: User, customer_id: Any, customer_email: Any) -> Customer:
    unknown = ValidationFailed("unknown customer", code="unknown_customer")
    if customer_id is not None:
        if isinstance(customer_id, bool) or not isinstance(customer_id, int):
            raise ValidationFailed(
                "customer_id must be an integer", code="not_an_integer", field="customer_id"
            )
        if not is_row_id(customer_id):
            raise unknown
        customer = db.session.scalar(
            select(Customer).where(Customer.id == customer_id, visible_to(user))
        )
        if customer is None:
            raise unknown
        return customer
    if customer_email is None:
        raise ValidationFailed(
            "customer_id or customer_email is required", code="customer_required"
        )
    if not isinstance(customer_email, str):
        raise ValidationFailed(
            "customer_email must be a string", code="not_a_string", field="customer_email"
        )
    email = normalize_email(customer_email)
    found = list(
        db.session.scalars(
            select(Customer)
            .where(Customer.email == email, visible_to(user))
            .order_by(Customer.id)
            .limit(2)
        )
    )
    if not found:
        raise unknown
    if len(found) > 1:
        raise ValidationFailed(
            "several of your customers have this e-mail address; send customer_id instead",
            code="ambiguous_customer",
        )
    return found[0]


def ingest(user: User, body: dict[str, Any]) -> Ingested:
    """Store one inbound event (the caller commits with portal.jobs.commit)."""
    now = utcnow()
    event_type = validate_type(body.get("type"))
    occurred_at = parse_occurred_at(body.get("occurred_at"), now)
    key = validate_key(body.get("idempotency_key"))
    properties = validate_properties(body.get("properties"))
    customer = find_customer(user, body.get("customer_id"), body.get("customer_email"))
    stored = record_many(
        [
            NewEvent(
                customer_id=customer.id,
                type=event_type,
                occurred_at=occurred_at,
                idempotency_key=stored_key(customer, key),
                properties=properties,
            )
        ]
    )
    event = stored[0] if stored else None
    later = customer.last_inbound_at is None or customer.last_inbound_at < occurred_at
    if event is not None and event_type in INBOUND_TYPES and later:
        customer.last_inbound_at = occurred_at
    return Ingested(event=event, customer=customer)
