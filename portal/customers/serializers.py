"""Customers as JSON-ready dicts (the API's shape)."""

from __future__ import annotations

from typing import Any

from portal.customers.models import Customer

FIELDS = ("name", "company", "title", "email", "phone", "industry", "region")


def customer_json(customer: Customer, score_breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": customer.id,
        **{field: getattr(customer, field) for field in FIELDS},
        "owner_email": customer.owner.email,
        "account_id": customer.account_id,
        "score": customer.score,
        "grade": customer.grade,
        "score_breakdown": score_breakdown,
        "last_inbound_at": customer.last_inbound_at.isoformat()
        if customer.last_inbound_at
        else None,
        "created_at": customer.created_at.isoformat(),
    }


def timeline_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item | {"at": item["at"].isoformat()} for item in items]
