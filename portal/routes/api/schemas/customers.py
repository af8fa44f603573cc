"""Customers: create one, read one with its score, its timeline, export and erasure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.read_models.timeline import DEFAULT_LIMIT
from portal.routes.api.schemas.common import Answer, Body, JsonObject, Text, TextOrNull, Time


class CustomerInput(Body):
    name: Text
    company: Text | None = None
    title: Text | None = None
    email: Text | None = None
    phone: Text | None = None
    industry: Text | None = None
    region: Text | None = None
    owner_email: Text | None = Field(
        default=None, description="the owning rep; the caller if omitted"
    )


class ScoreEntry(Answer):
    rule: str | None = None
    points: int | None = None
    event_id: int | None = None
    at: Time = None


class Customer(Answer):
    id: int
    name: TextOrNull = None
    company: TextOrNull = None
    title: TextOrNull = None
    email: TextOrNull = None
    phone: TextOrNull = None
    industry: TextOrNull = None
    region: TextOrNull = None
    owner_email: str
    account_id: int | None = Field(
        default=None,
        description="the company account (GET /accounts/{id}); null without a company",
    )
    score: int
    grade: Literal["A", "B", "C"]
    score_breakdown: list[ScoreEntry]
    last_inbound_at: Time = None
    created_at: Time = None


class TimelineQuery(Body):
    limit: int | None = Field(
        default=None, ge=1, le=1000, description=f"how many (default {DEFAULT_LIMIT})"
    )


class TimelineItem(Answer):
    type: str
    at: Time
    delivery_id: int | None = None


class Timeline(Answer):
    items: list[TimelineItem]


class PersonalDataExport(Answer):
    customer: JsonObject
    deliveries: list[JsonObject]
    events: list[JsonObject]
    sessions: list[JsonObject]
    comments: list[JsonObject]
    score_entries: list[JsonObject]
    tasks: list[JsonObject]


class Erased(Answer):
    erased: Literal[True]
