"""Accounts as JSON (the API's shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.companies.models import Account
from portal.deals.models import Deal
from portal.deals.stages import label as stage_label
from portal.read_models.accounts import AccountPage, AccountRow, ContactView, Engagement


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def engagement_json(engagement: Engagement) -> dict[str, Any]:
    return {
        "contacts": engagement.contacts,
        "score_sum": engagement.score_sum,
        "score_max": engagement.score_max,
        "grade": engagement.grade,
        "last_activity_at": _at(engagement.last_activity_at),
    }


def _account(account: Account) -> dict[str, Any]:
    return {"id": account.id, "name": account.name, "created_at": _at(account.created_at)}


def account_row_json(row: AccountRow) -> dict[str, Any]:
    return _account(row.account) | {"engagement": engagement_json(row.engagement)}


def _contact(view: ContactView) -> dict[str, Any]:
    customer = view.customer
    return {
        "id": customer.id,
        "name": customer.name,
        "title": customer.title,
        "email": customer.email,
        "owner_email": customer.owner.email,
        "score": customer.score,
        "grade": customer.grade,
        "opens": view.opens,
        "read_seconds": view.read_seconds,
        "last_activity_at": _at(view.last_activity_at),
        "documents": [
            {
                "delivery_id": doc.delivery.id,
                "template_id": doc.delivery.template_id,
                "name": doc.name,
                "kind": doc.delivery.template.kind,
                "sent_at": _at(doc.delivery.created_at),
                "opens": doc.stats.opens,
                "read_seconds": doc.stats.read_seconds,
                "first_opened_at": _at(doc.stats.first_opened_at),
                "last_seen_at": _at(doc.stats.last_seen_at),
            }
            for doc in view.documents
        ],
    }


def _deal(deal: Deal) -> dict[str, Any]:
    return {
        "id": deal.id,
        "title": deal.title,
        "customer_id": deal.customer_id,
        "owner_email": deal.owner.email,
        "stage": deal.stage,
        "stage_label": stage_label(deal.stage),
        "amount_minor": deal.amount_minor,
        "currency": deal.currency,
        "expected_close": deal.expected_close.isoformat(),
    }


def account_page_json(page: AccountPage) -> dict[str, Any]:
    engagement = engagement_json(page.engagement) | {
        "read_seconds": page.engagement.read_seconds,
        "opens": page.engagement.opens,
    }
    return _account(page.account) | {
        "engagement": engagement,
        "contacts": [_contact(view) for view in page.contacts],
        "deals": [_deal(deal) for deal in page.deals],
    }
