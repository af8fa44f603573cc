"""Deals, evidence, notes, stage moves, approvals, probabilities and the forecast as JSON."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

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
from portal.jobs import commit
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare, form, query
from portal.routes.api.schemas import deals as schemas
from portal.routes.api.schemas.common import Error, IdOnly

# What any deal route may refuse besides the common answers.
_REFUSALS = {
    403: (Error, "The caller may see the deal but not do this to it"),
}


def _detail(deal) -> dict[str, Any]:
    return deal_json(view_of(deal)) | {
        "evidence": [evidence_json(e) for e in evidence.evidence_of(deal)],
        "notes": [note_json(n) for n in services.notes_of(deal)],
        "history": [change_json(c) for c in services.history_of(deal)],
        "approvals": [approval_json(a) for a in approvals.approvals_of(deal)],
    }


@bp.get("/deals")
@declare(query=schemas.DealQuery, answers={200: schemas.DealList})
def list_deals():
    """The deals the caller may see (rep: own; supervisor: team; finance and legal: those
    routed to them; admin: all), with probability, risk and stall"""
    deals = services.list_deals(api_user(), query(schemas.DealQuery).stage or None)
    return {"items": [deal_json(v) for v in views_of(deals)]}


@bp.post("/deals")
@declare(json=schemas.DealInput, answers={201: (IdOnly, "Created"), **_REFUSALS})
def create_deal():
    """Create a deal in initial_contact; meeting_notes (its evidence) required"""
    given = body(schemas.DealInput)
    fields = services.DealFields(
        customer_id=given.customer_id,
        title=given.title,
        amount=str(given.amount),
        expected_close=given.expected_close,
        currency=given.currency or "CNY",
        next_meeting_at=given.next_meeting_at,
    )
    notes = evidence.EvidenceInput(stage="initial_contact", note=given.meeting_notes or "")
    deal = services.create_deal(api_user(), fields, notes)
    commit()
    return {"id": deal.id}, 201


class DealResource(MethodView):
    # One rule for both methods: with a rule each, an id past MAX_ID would answer PATCH with
    # 405 (werkzeug checks a rule's methods before its converter) instead of the 404 of GET.

    @declare(answers={200: schemas.DealDetail})
    def get(self, deal_id: int):
        """A deal with its evidence, notes, stage history and approvals"""
        return _detail(get_deal(api_user(), deal_id))

    @declare(json=schemas.DealEdit, answers={200: schemas.DealDetail, **_REFUSALS})
    def patch(self, deal_id: int):
        """Correct an open deal's title, amount, currency or expected close (any of them)

        A new amount or currency puts finance's and legal's decisions back to pending; the
        change is in the audit log."""
        given = body(schemas.DealEdit)
        sent = given.model_fields_set
        correction = services.DealEdit(
            title=(given.title or "") if "title" in sent else None,
            amount=None if given.amount is None else str(given.amount),
            currency=(given.currency or "") if "currency" in sent else None,
            expected_close=given.expected_close,
        )
        deal = get_deal(api_user(), deal_id)
        services.update_deal(api_user(), deal, correction)
        commit()
        return _detail(deal)


bp.add_url_rule("/deals/<int:deal_id>", view_func=DealResource.as_view("deal_resource"))


@bp.post("/deals/<int:deal_id>/evidence")
@declare(
    form=schemas.EvidenceUpload,
    answers={
        201: (schemas.DealEvidence, "Created"),
        413: (Error, "Upload over the size limit"),
        **_REFUSALS,
    },
)
def add_deal_evidence(deal_id: int):
    """Add evidence for a stage: a note and/or a file (kept in object storage)"""
    deal = get_deal(api_user(), deal_id)
    given = form(schemas.EvidenceUpload)
    upload = given.file
    data = upload.read() if upload else None
    row = evidence.add_evidence(
        deal,
        api_user(),
        evidence.EvidenceInput(
            stage=given.stage,
            note=given.note,
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


_MOVED = {200: schemas.Deal, **_REFUSALS}


@bp.post("/deals/<int:deal_id>/advance")
@declare(json=schemas.AdvanceInput, optional_body=True, answers=_MOVED)
def advance_deal(deal_id: int):
    """Move to the next stage; refused (422) when skipping or when its evidence is missing"""
    to_stage = body(schemas.AdvanceInput).to_stage
    deal = get_deal(api_user(), deal_id)
    return _moved(services.advance(api_user(), deal, to_stage or None))


@bp.post("/deals/<int:deal_id>/send-back")
@declare(json=schemas.Reason, answers=_MOVED)
def send_back_deal(deal_id: int):
    """The owner's supervisor moves the deal back one stage, with a reason"""
    reason = body(schemas.Reason).reason
    deal = get_deal(api_user(), deal_id)
    return _moved(services.send_back(api_user(), deal, reason))


@bp.post("/deals/<int:deal_id>/won")
@declare(answers=_MOVED)
def win_deal(deal_id: int):
    """Mark won (from negotiation; above the approval threshold only after finance and legal
    approve)"""
    deal = get_deal(api_user(), deal_id)
    return _moved(services.mark_won(api_user(), deal))


@bp.post("/deals/<int:deal_id>/lost")
@declare(json=schemas.Reason, answers=_MOVED)
def lose_deal(deal_id: int):
    """Mark lost, with a reason"""
    reason = body(schemas.Reason).reason
    deal = get_deal(api_user(), deal_id)
    return _moved(services.mark_lost(api_user(), deal, reason))


@bp.post("/deals/<int:deal_id>/notes")
@declare(json=schemas.NoteInput, answers={201: (schemas.DealNote, "Created"), **_REFUSALS})
def add_deal_note(deal_id: int):
    """Add a conversation note or pasted chat text (scanned for hedge words)"""
    given = body(schemas.NoteInput)
    deal = get_deal(api_user(), deal_id)
    note = services.add_note(api_user(), deal, given.text, given.source or "note")
    commit()
    return note_json(note), 201


@bp.post("/deals/<int:deal_id>/next-meeting")
@declare(json=schemas.NextMeeting, answers=_MOVED)
def set_next_meeting(deal_id: int):
    """Set (or clear, with null) the next meeting"""
    when = body(schemas.NextMeeting).at
    deal = get_deal(api_user(), deal_id)
    return _moved(services.set_next_meeting(api_user(), deal, when))


@bp.post("/deals/<int:deal_id>/approvals/<role>")
@declare(json=schemas.ApprovalDecision, answers={200: schemas.DealApproval, **_REFUSALS})
def decide_approval(deal_id: int, role: str):
    """Finance or legal approves or rejects (their own role only)"""
    given = body(schemas.ApprovalDecision)
    deal = get_deal(api_user(), deal_id)
    approval = approvals.decide(api_user(), deal, role, given.decision, given.note or "")
    commit()
    return approval_json(approval)


@bp.get("/approvals")
@declare(answers={200: schemas.DealApprovalList})
def list_approvals():
    """The approvals routed to the caller's role (finance or legal)"""
    return {"items": [approval_json(a) for a in approvals.pending_for(api_user())]}


@bp.get("/forecast")
@declare(query=schemas.ForecastQuery, answers={200: schemas.Forecast})
def get_forecast():
    """Σ amount × probability of open deals, per rep, team, region or month; won amounts
    alongside"""
    group = query(schemas.ForecastQuery).group
    rows = forecast.forecast(api_user(), group)
    return {"group": group, "items": [forecast_row_json(r) for r in rows]}


@bp.post("/stage-probabilities")
@declare(json=schemas.StageProbabilityInput, answers={200: schemas.StageProbability, **_REFUSALS})
def set_stage_probability():
    """A team's supervisor (or admin) tunes a stage's probability within its range"""
    given = body(schemas.StageProbabilityInput)
    row = probabilities.set_probability(
        api_user(), given.team.strip(), given.stage, given.probability
    )
    commit()
    return {"team": row.team, "stage": row.stage, "probability": row.probability}
