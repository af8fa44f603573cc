from __future__ import annotations

from portal.inbound.service import ingest
from portal.jobs import commit
from portal.routes import rate_limits
from portal.routes.api.base import api_user, bp, json_body


@bp.post("/events")
@rate_limits.limit("EVENTS_RATE_LIMIT", rate_limits.bearer_token)
def inbound_event():
    result = ingest(api_user(), json_body())
    commit()
    return {
        "id": result.event.id if result.event else None,
        "duplicate": result.duplicate,
        "customer_id": result.customer.id,
    }, 202
