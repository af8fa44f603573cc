"""Deals, evidence, notes, stage moves, approvals, probabilities and the forecast as JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import request

from portal.db_types import is_row_id
from portal.deals import approvals, evidence, forecast, probabilities, services
from portal.deals.scope import get_deal
from portal.deals.serializers import (
    approval_json,
    change_json,
    deal_json,
    evidence_json,
    forecast_row_json,
    note_json,
)
from portal.deals.views import view_of, views_of
from portal.errors import ValidationFailed
from portal.jobs import commit
from portal.routes.api.base import api_user, bp, json_body


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string", code="not_a_string", field=key)
    if required and not value.strip():
        raise ValidationFailed(f"{key} is required", code="required", field=key)
    return value


def _date(body: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(_text(body, key, required=True))
    except ValueError:
        raise ValidationFailed(
            f"{key} must be a date (YYYY-MM-DD)", code="bad_date", field=key
        ) from None


def _datetime(body: dict[str, Any], key: str) -> datetime | None:
    raw = _text(body, key)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{key} must be an ISO 8601 date-time with a time zone", code="bad_datetime", field=key
        ) from None
    if value.tzinfo is None:
        raise ValidationFailed(
            f"{key} must include a time zone offset", code="time_zone_required", field=key
        )
    return value


def _detail(deal) -> dict[str, Any]:
    return deal_json(view_of(deal)) | {
        "evidence": [evidence_json(e) for e in evidence.evidence_of(deal)],
        "notes": [note_json(n) for n in services.notes_of(deal)],
        "history": [change_json(c) for c in services.history_of(deal)],
        "approvals": [approval_json(a) for a in approvals.approvals_of(deal)],
    }


@bp.get("/deals")
def list_deals():
    stage = request.args.get("stage") or None
    deals = services.list_deals(api_user(), stage)
    return {"items": [deal_json(v) for v in views_of(deals)]}


@bp.post("/deals")
def create_deal():
    body = json_body()
    customer_id = body.get("customer_id")
    if not is_row_id(customer_id):
        raise ValidationFailed(
            "customer_id must be a customer's id", code="bad_id", field="customer_id"
        )
    amount = body.get("amount")
    if not isinstance(amount, str | int | float) or isinstance(amount, bool):
        raise ValidationFailed(
            "amount must be a number or a decimal string", code="not_a_number", field="amount"
        )
    fields = services.DealFields(
        customer_id=customer_id,
        title=_text(body, "title", required=True),
        amount=str(amount),
        expected_close=_date(body, "expected_close"),
        currency=_text(body, "currency") or "CNY",
        next_meeting_at=_datetime(body, "next_meeting_at"),
    )
    notes = evidence.EvidenceInput(stage="initial_contact", note=_text(body, "meeting_notes"))
    deal = services.create_deal(api_user(), fields, notes)
    commit()
    return {"id": deal.id}, 201


# One rule for both methods: with a rule each, an id past MAX_ID would answer PATCH with 405
# (werkzeug checks a rule's methods before its converter) instead of the 404 it gets for GET.
@bp.route("/deals/<int:deal_id>", methods=["GET", "PATCH"])
def deal_resource(deal_id: int):
    if request.method == "PATCH":
        return _update_deal(deal_id)
    return _detail(get_deal(api_user(), deal_id))


def _update_deal(deal_id: int):
    body = json_body()
    amount = body.get("amount")
    if amount is not None and (
        not isinstance(amount, str | int | float) or isinstance(amount, bool)
    ):
        raise ValidationFailed(
            "amount must be a number or a decimal string", code="not_a_number", field="amount"
        )
    correction = services.DealEdit(
        title=_text(body, "title") if "title" in body else None,
        amount=None if amount is None else str(amount),
        currency=_text(body, "currency") if "currency" in body else None,
        expected_close=_date(body, "expected_close") if "expected_close" in body else None,
    )
    deal = get_deal(api_user(), deal_id)
    services.update_deal(api_user(), deal, correction)
    commit()
    return _detail(deal)


@bp.post("/deals/<int:deal_id>/evidence")
def add_deal_evidence(deal_id: int):
    deal = get_deal(api_user(), deal_id)
    upload = request.files.get("file")
    data = upload.read() if upload else None
    row = evidence.add_evidence(
        deal,
        api_user(),
        evidence.EvidenceInput(
            stage=request.form.get("stage", ""),
            note=request.form.get("note", ""),
            filename=upload.filename if upload else None,
            data=data or None,
            content_type=upload.mimetype if upload else None,
        ),
    )
    commit()
    return evidence_json(row), 201


def _moved(deal) -> tuple[dict[str, Any], int]:
    commit()
    return deal_json(view_of(deal)), 200


@bp.post("/deals/<int:deal_id>/advance")
def advance_deal(deal_id: int):
    body = request.get_json(silent=True)
    to_stage = body.get("to_stage") if isinstance(body, dict) else None
    if to_stage is not None and not isinstance(to_stage, str):
        raise ValidationFailed("to_stage must be a string", code="not_a_string", field="to_stage")
    deal = get_deal(api_user(), deal_id)
    return _moved(services.advance(api_user(), deal, to_stage or None))


@bp.post("/deals/<int:deal_id>/send-back")
def send_back_deal(deal_id: int):
    reason = _text(json_body(), "reason", required=True)
    deal = get_deal(api_user(), deal_id)
    return _moved(services.send_back(api_user(), deal, reason))


@bp.post("/deals/<int:deal_id>/won")
def win_deal(deal_id: int):
    deal = get_deal(api_user(), deal_id)
    return _moved(services.mark_won(api_user(), deal))


@bp.post("/deals/<int:deal_id>/lost")
def lose_deal(deal_id: int):
    reason = _text(json_body(), "reason", required=True)
    deal = get_deal(api_user(), deal_id)
    return _moved(services.mark_lost(api_user(), deal, reason))


@bp.post("/deals/<int:deal_id>/notes")
def add_deal_note(deal_id: int):
    body = json_body()
    deal = get_deal(api_user(), deal_id)
    note = services.add_note(
        api_user(), deal, _text(body, "text", required=True), _text(body, "source") or "note"
    )
    commit()
    return note_json(note), 201


@bp.post("/deals/<int:deal_id>/next-meeting")
def set_next_meeting(deal_id: int):
    when = _datetime(json_body(), "at")
    deal = get_deal(api_user(), deal_id)
    return _moved(services.set_next_meeting(api_user(), deal, when))


@bp.post("/deals/<int:deal_id>/approvals/<role>")
def decide_approval(deal_id: int, role: str):
    body = json_body()
    deal = get_deal(api_user(), deal_id)
    approval = approvals.decide(
        api_user(), deal, role, _text(body, "decision", required=True), _text(body, "note")
    )
    commit()
    return approval_json(approval)


@bp.get("/approvals")
def list_approvals():
    return {"items": [approval_json(a) for a in approvals.pending_for(api_user())]}


@bp.get("/forecast")
def get_forecast():
    group = request.args.get("group", "rep")
    rows = forecast.forecast(api_user(), group)
    return {"group": group, "items": [forecast_row_json(r) for r in rows]}


@bp.post("/stage-probabilities")
def set_stage_probability():
    body = json_body()
    probability = body.get("probability")
    if not isinstance(probability, int) or isinstance(probability, bool):
        raise ValidationFailed(
            "probability must be an integer percent", code="not_an_integer", field="probability"
        )
    row = probabilities.set_probability(
        api_user(),
        _text(body, "team", required=True).strip(),
        _text(body, "stage", required=True),
        probability,
    )
    commit()
    return {"team": row.team, "stage": row.stage, "probability": row.probability}
