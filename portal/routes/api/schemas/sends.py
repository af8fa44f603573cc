"""Bulk sends: one material to many customers, and the batch's progress."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.routes.api.schemas.common import Answer, ErrorDetail, RowId
from portal.routes.api.schemas.deliveries import SendOptions

MAX_LISTED = 10_000  # a bound on the body; the batch's own limit (1,000) has its code


class SendsInput(SendOptions):
    template_id: RowId
    customer_ids: list[RowId] = Field(
        default_factory=list,
        max_length=MAX_LISTED,
        description="the customers; duplicates count once; at most 1,000 in a batch",
    )
    account_ids: list[RowId] = Field(
        default_factory=list,
        max_length=MAX_LISTED,
        description="every customer of these accounts the caller may see (with customer_ids)",
    )


class BulkDelivery(Answer):
    customer_id: int
    delivery_id: int | None = Field(description="null until the customer's send is made")
    status: Literal["queued", "sending", "done", "failed"]
    error: ErrorDetail | None = Field(default=None, description="why it failed, if it did")
    render_status: Literal["pending", "ready", "failed"] | None = None
    email_status: Literal["queued", "sending", "sent", "not_configured", "failed"] | None = None


class BulkSend(Answer):
    id: int
    template_id: int
    sender_email: str
    created_at: str
    total: int
    done: int
    failed: int
    queued: int
    deliveries: list[BulkDelivery]
