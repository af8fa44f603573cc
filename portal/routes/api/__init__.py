"""JSON API under /api/v1, authenticated with `Authorization: Bearer <token>`.

The blueprint and its helpers are in portal.routes.api.base (the route modules import them
from there); importing this package registers every route module on it."""

from __future__ import annotations

from portal.routes.api import (  # noqa: F401  (register the routes)
    accounts,
    analytics,
    audit,
    channels,
    customers,
    deals,
    deliveries,
    exchange,
    inbound_events,
    openapi,
    recommendations,
    sends,
    tasks,
    templates,
)
from portal.routes.api.base import bp  # noqa: F401  (what the app factory registers)
