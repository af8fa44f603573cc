"""Deals, their evidence, notes, stage moves, approvals, probabilities and the forecast."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, StrictFloat
from spectree.model_adapter.pydantic_adapter import BaseFile

from portal.routes.api.schemas.common import Answer, Body, Int, JsonObject, RowId, Text, Time


def _text_only(value: Any) -> Any:
    # A date is written as text: pydantic would otherwise read a number as a Unix time.
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _blank_is_null(value: Any) -> Any:
    if value == "":
        return None
    return _text_only(value) if value is not None else None


IsoDate = Annotated[date, BeforeValidator(_text_only)]
Moment = Annotated[AwareDatetime | None, BeforeValidator(_blank_is_null)]
Required = Annotated[Text, Field(pattern=r"\S")]  # not blank
Amount = Annotated[
    Text | Annotated[StrictFloat, Field(allow_inf_nan=False)] | Int,
    Field(description='major units of the currency, e.g. 680000 or "680000.50"'),
]


class DealInput(Body):
    customer_id: RowId
    title: Required
    amount: Amount
    expected_close: IsoDate
    currency: Text | None = Field(default=None, description="default CNY")
    next_meeting_at: Moment = Field(default=None, description="ISO 8601 with a time zone")
    meeting_notes: Text | None = Field(default=None, description="evidence for initial_contact")


class DealEdit(Body):
    """Any of them; a member left out is not changed."""

    title: Text | None = None
    amount: Amount | None = None
    currency: Text | None = None
    expected_close: IsoDate | None = None


class DealQuery(BaseModel):
    stage: str | None = None


class EvidenceUpload(BaseModel):
    """multipart/form-data: a note and/or a file for a stage."""

    stage: str = ""
    note: str = ""
    file: BaseFile | None = None


class AdvanceInput(Body):
    to_stage: Text | None = Field(default=None, description="the next stage if omitted")


class Reason(Body):
    reason: Required


class NoteInput(Body):
    text: Required
    source: Text | None = Field(default=None, description="note (the default) or chat")


class NextMeeting(Body):
    at: Moment = Field(default=None, description="null clears it")


class ApprovalDecision(Body):
    decision: Required = Field(description="approved or rejected")
    note: Text | None = None


class StageProbabilityInput(Body):
    team: Required
    stage: Required
    probability: Int


class ForecastQuery(BaseModel):
    group: str = Field(default="rep", description="rep, team, region or month")


class Risk(Answer):
    level: Literal["high", "medium", "low", "none"] | None = None
    words: list[str] = Field(default_factory=list)
    no_next_meeting: bool | None = None


class Stall(Answer):
    days_in_stage: int | None = None
    typical_days: int | None = None


class Deal(Answer):
    id: int
    customer_id: int | None = None
    customer_name: str | None = None
    owner_id: int | None = None
    owner_email: str | None = None
    team: str | None = None
    region: str | None = None
    title: str | None = None
    amount: str | None = Field(default=None, description="major units, two decimals")
    amount_minor: int
    currency: str | None = None
    expected_close: str | None = Field(default=None, json_schema_extra={"format": "date"})
    stage: str
    stage_label: str | None = None
    probability: int
    weighted_minor: str | None = Field(default=None, description="amount_minor × probability / 100")
    stage_entered_at: Time = None
    next_meeting_at: Time = None
    created_at: Time = None
    updated_at: Time = None
    closed_at: Time = None
    lost_reason: str | None = None
    risk: Risk
    stalled: Stall | None = None
    url: str | None = None


class DealList(Answer):
    items: list[Deal]


class DealEvidence(Answer):
    id: int
    stage: str | None = None
    kind: str | None = None
    note: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded_by: str | None = None
    at: Time = None


class DealNote(Answer):
    id: int
    source: Literal["note", "chat"] | None = None
    text: str | None = None
    author: str | None = None
    at: Time = None


class DealApproval(Answer):
    id: int
    deal_id: int | None = None
    role: Literal["finance", "legal"] | None = None
    status: Literal["pending", "approved", "rejected"] | None = None
    decided_by: str | None = None
    decided_at: Time = None
    note: str | None = None


class DealApprovalList(Answer):
    items: list[DealApproval]


class DealDetail(Deal):
    evidence: list[DealEvidence] = Field(default_factory=list)
    notes: list[DealNote] = Field(default_factory=list)
    history: list[JsonObject] = Field(default_factory=list)
    approvals: list[DealApproval] = Field(default_factory=list)


class ForecastRow(Answer):
    key: str | None = None
    label: str | None = None
    currency: str | None = None
    deals: int | None = None
    pipeline_minor: int | None = None
    weighted_minor: str | None = None
    won_minor: int | None = None


class Forecast(Answer):
    group: str
    items: list[ForecastRow]


class StageProbability(Answer):
    team: str
    stage: str
    probability: int
