"""Deals as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from portal.deals.forecast import ForecastRow
from portal.deals.models import DealApproval, DealEvidence, DealNote, DealStageChange
from portal.deals.stages import label
from portal.deals.views import DealView


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def deal_json(view: DealView) -> dict[str, Any]:
    deal = view.deal
    return {
        "id": deal.id,
        "customer_id": deal.customer_id,
        "customer_name": deal.customer.name,
        "owner_id": deal.owner_id,
        "owner_email": deal.owner.email,
        "team": deal.owner.team,
        "region": deal.customer.region,
        "title": deal.title,
        "amount": f"{deal.amount_minor / 100:.2f}",
        "amount_minor": deal.amount_minor,
        "currency": deal.currency,
        "expected_close": deal.expected_close.isoformat(),
        "stage": deal.stage,
        "stage_label": label(deal.stage),
        "probability": view.probability,
        "weighted_minor": str(view.weighted_minor),
        "stage_entered_at": _at(deal.stage_entered_at),
        "next_meeting_at": _at(deal.next_meeting_at),
        "created_at": _at(deal.created_at),
        "updated_at": _at(deal.updated_at),
        "closed_at": _at(deal.closed_at),
        "lost_reason": deal.lost_reason,
        "risk": {
            "level": view.risk.level,
            "words": view.risk.words,
            "no_next_meeting": view.risk.no_next_meeting,
        },
        "stalled": (
            {"days_in_stage": view.stall.days_in_stage, "typical_days": view.stall.typical_days}
            if view.stall
            else None
        ),
        "url": url_for("deals.detail", deal_id=deal.id),
    }


def evidence_json(row: DealEvidence) -> dict[str, Any]:
    return {
        "id": row.id,
        "stage": row.stage,
        "kind": row.kind,
        "note": row.note,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "uploaded_by": row.uploaded_by.email if row.uploaded_by else None,
        "at": _at(row.at),
    }


def note_json(row: DealNote) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "text": row.text,
        "author": row.author.email if row.author else None,
        "at": _at(row.at),
    }


def change_json(row: DealStageChange) -> dict[str, Any]:
    return {
        "from": row.from_stage,
        "to": row.to_stage,
        "kind": row.kind,
        "by": row.by.email if row.by else None,
        "at": _at(row.at),
        "reason": row.reason,
    }


def approval_json(row: DealApproval) -> dict[str, Any]:
    return {
        "id": row.id,
        "deal_id": row.deal_id,
        "role": row.role,
        "status": row.status,
        "decided_by": row.decided_by.email if row.decided_by else None,
        "decided_at": _at(row.decided_at),
        "note": row.note,
    }


def forecast_row_json(row: ForecastRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "currency": row.currency,
        "deals": row.deals,
        "pipeline_minor": row.pipeline_minor,
        "weighted_minor": str(row.weighted_minor),
        "won_minor": row.won_minor,
    }
