from __future__ import annotations

from portal.inbound.service import ingest
from portal.jobs import commit
from portal.routes import rate_limits
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare
from portal.routes.api.schemas.activity import InboundEvent, InboundEventAccepted
from portal.routes.api.schemas.common import Error


@bp.post("/events")
@rate_limits.limit("EVENTS_RATE_LIMIT", rate_limits.bearer_token)
@declare(
    json=InboundEvent,
    answers={
        202: (InboundEventAccepted, "Accepted"),
        429: (Error, "Too many events from this token; retry after Retry-After seconds"),
    },
)
def inbound_event():
    """Record an event from another channel (forms, WeChat Work, ads)

    Idempotent by idempotency_key: a repeat answers 202 with "duplicate": true and "id": null.
    The customer must be one of the caller's; any other is 422 unknown_customer."""
    # The service reads the type, time, key and properties (its rules, its error codes).
    result = ingest(api_user(), body(InboundEvent).model_dump(exclude_unset=True))
    commit()
    return {
        "id": result.event.id if result.event else None,
        "duplicate": result.duplicate,
        "customer_id": result.customer.id,
    }, 202
