"""Tasks, the audit log, inbound events and recommendations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from portal.audit.service import MAX_PAGE as AUDIT_MAX_PAGE
from portal.audit.service import MAX_PER_PAGE as AUDIT_MAX_PER_PAGE
from portal.recommendations.service import MAX_TEXT
from portal.routes.api.schemas.common import Answer, Body, JsonObject, RowId, Text, Time


class TaskQuery(BaseModel):
    status: str = Field(default="open", description="open, due, overdue, snoozed or done")


class Task(Answer):
    id: int
    customer_id: int | None = None
    customer_name: str | None = None
    owner_email: str | None = None
    rule: str | None = None
    title: str | None = None
    reason: JsonObject | None = None
    reason_text: str | None = None
    priority: Literal["normal", "high"] | None = None
    status: Literal["open", "snoozed", "done"] | None = None
    overdue: bool | None = None
    due_at: Time = None
    snoozed_until: Time = None
    created_at: Time = None
    done_at: Time = None
    escalated_at: Time = None
    event_ids: list[int] = Field(default_factory=list)
    url: str | None = None


class TaskList(Answer):
    items: list[Task]


class AuditQuery(BaseModel):
    action: str | None = None
    actor: str | None = Field(
        default=None, description="part of the actor's e-mail, or cli / system"
    )
    since: str | None = Field(default=None, description="YYYY-MM-DD")
    until: str | None = Field(default=None, description="YYYY-MM-DD")
    page: int | None = Field(default=None, ge=1, le=AUDIT_MAX_PAGE)
    per_page: int | None = Field(default=None, ge=1, le=AUDIT_MAX_PER_PAGE)


class AuditEntry(Answer):
    id: int
    at: str = Field(json_schema_extra={"format": "date-time"})
    actor_id: int | None = Field(default=None, description="null: the CLI or system")
    actor: str = Field(description="the actor's e-mail, `cli` or `system`")
    action: str = Field(examples=["template.published"])
    object_type: str
    object_id: str
    summary: str | None = None
    details: JsonObject | None = None


class AuditPage(Answer):
    items: list[AuditEntry]
    page: int
    per_page: int
    total: int


class InboundEvent(Body):
    customer_id: RowId | None = Field(default=None, description="or customer_email")
    customer_email: Text | None = Field(default=None, description="or customer_id")
    type: Text = Field(
        description="reply.received, form.submitted or external.<name> (lower-case dotted, at "
        "most 40 characters)"
    )
    # Text here: the service reads the time (its rules: an offset, not ahead, not too old).
    occurred_at: Text = Field(
        description="ISO 8601 date-time with an offset; not over 5 min ahead, not over a year ago"
    )
    idempotency_key: Text = Field(description="at most 116 characters")
    properties: JsonObject | None = Field(default=None, description="at most 8 KB as JSON")


class InboundEventAccepted(Answer):
    id: int | None
    duplicate: bool
    customer_id: int | None = None


class RecommendationInput(Body):
    customer_id: RowId
    text: Annotated[Text, Field(max_length=MAX_TEXT, pattern=r"\S")] = Field(
        description="the customer's message"
    )


class Recommendation(Answer):
    template_id: int
    name: str
    reason: str = Field(description="the matched words")
    matched: list[str] = Field(default_factory=list)
    kind: str | None = None
    industry: str | None = None
    other_industry: bool = Field(
        default=False,
        description="made for another industry than the customer's: offered only when nothing "
        "of the customer's industry matches",
    )


class Recommendations(Answer):
    items: list[Recommendation]
