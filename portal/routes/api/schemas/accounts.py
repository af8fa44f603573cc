"""Company accounts: a page of them, and one account's buying committee."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from portal.read_models.accounts import MAX_PAGE, MAX_PER_PAGE
from portal.routes.api.schemas.common import Answer, Time


class AccountQuery(BaseModel):
    q: str | None = Field(default=None, description="part of the name")
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


class Engagement(Answer):
    contacts: int | None = Field(default=None, description="contacts the caller may see")
    score_sum: int | None = Field(default=None, description="sum of those contacts' scores")
    score_max: int | None = Field(default=None, description="the highest of those scores")
    grade: Literal["A", "B", "C"] | None = Field(default=None, description="the grade of score_max")
    last_activity_at: Time = Field(
        default=None, description="the latest tracked action of a contact"
    )


class AccountEngagement(Engagement):
    read_seconds: int | None = Field(default=None, description="total read time of the contacts")
    opens: int | None = None


class AccountSummary(Answer):
    id: int
    name: str
    created_at: Time = None
    engagement: Engagement


class AccountPage(Answer):
    items: list[AccountSummary]
    page: int
    per_page: int
    total: int


class ContactDocument(Answer):
    delivery_id: int | None = None
    template_id: int | None = None
    name: str | None = None
    kind: str | None = None
    sent_at: Time = None
    opens: int | None = None
    read_seconds: int | None = None
    first_opened_at: Time = None
    last_seen_at: Time = None


class Contact(Answer):
    id: int = Field(description="the customer's id")
    name: str | None = None
    title: str | None = None
    email: str | None = None
    owner_email: str | None = None
    score: int | None = None
    grade: Literal["A", "B", "C"] | None = None
    opens: int | None = None
    read_seconds: int | None = None
    last_activity_at: Time = None
    documents: list[ContactDocument] = Field(
        default=[], description="what was sent to the contact, the latest read first"
    )


class AccountDeal(Answer):
    id: int
    title: str | None = None
    customer_id: int | None = None
    owner_email: str | None = None
    stage: str | None = None
    stage_label: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    expected_close: str | None = Field(default=None, json_schema_extra={"format": "date"})


class Account(Answer):
    id: int
    name: str
    created_at: Time = None
    engagement: AccountEngagement
    contacts: list[Contact]
    deals: list[AccountDeal] = Field(
        description="open deals of these contacts, closing soonest first"
    )
