"""Evidence gates and the order of stages."""

from __future__ import annotations

from datetime import date

import pytest

from portal.deals import services
from portal.deals.errors import DealRefused
from portal.deals.evidence import EvidenceInput, add_evidence
from portal.deals.models import DealStageChange
from portal.extensions import db
from tests.deals.conftest import new_deal, walk_to


def test_a_deal_needs_meeting_notes_to_exist(sales):
    with pytest.raises(DealRefused) as refused:
        services.create_deal(
            sales.east_rep,
            services.DealFields(
                customer_id=sales.shanghai.id,
                title="x",
                amount="1000",
                expected_close=date(2027, 1, 1),
            ),
            EvidenceInput(stage="initial_contact", note="   "),
        )
    assert refused.value.code == "meeting_notes_required"
    assert "meeting notes" in refused.value.message


def test_advancing_without_the_evidence_is_refused_naming_what_is_missing(sales):
    deal = new_deal(sales.east_rep, sales.shanghai)
    with pytest.raises(DealRefused) as refused:
        services.advance(sales.east_rep, deal)
    assert refused.value.status == 422
    assert refused.value.code == "evidence_missing"
    assert "requirement list" in refused.value.message
    assert deal.stage == "initial_contact"
    # Evidence for another stage does not open this one.
    add_evidence(deal, sales.east_rep, EvidenceInput(stage="demo", note="demo record"))
    with pytest.raises(DealRefused):
        services.advance(sales.east_rep, deal)
    add_evidence(deal, sales.east_rep, EvidenceInput(stage="needs_confirmed", note="需求清单 v1"))
    services.advance(sales.east_rep, deal)
    assert deal.stage == "needs_confirmed"


def test_skipping_a_stage_is_refused(sales):
    deal = new_deal(sales.east_rep, sales.shanghai)
    for stage in ("needs_confirmed", "demo", "negotiation"):
        add_evidence(deal, sales.east_rep, EvidenceInput(stage=stage, note="有"))
    with pytest.raises(DealRefused) as refused:
        services.advance(sales.east_rep, deal, "demo")
    assert refused.value.code == "stage_skipped"
    assert "cannot be skipped" in refused.value.message
    with pytest.raises(DealRefused) as refused:
        services.mark_won(sales.east_rep, deal)
    assert refused.value.code == "won_needs_negotiation"
    assert deal.stage == "initial_contact"


def test_history_is_recorded_and_send_back_needs_the_owners_supervisor(sales):
    deal = walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai), "demo")
    with pytest.raises(Exception) as denied:
        services.send_back(sales.east_rep, deal, "not ready")
    assert getattr(denied.value, "status", None) == 403
    with pytest.raises(Exception) as denied:
        services.send_back(sales.south_boss, deal, "not mine")
    assert getattr(denied.value, "status", None) == 403
    with pytest.raises(DealRefused) as refused:
        services.send_back(sales.east_boss, deal, "  ")
    assert refused.value.code == "reason_required"
    services.send_back(sales.east_boss, deal, "需求未确认完整")
    db.session.commit()
    kinds = [
        (c.kind, c.from_stage, c.to_stage)
        for c in db.session.scalars(
            db.select(DealStageChange)
            .where(DealStageChange.deal_id == deal.id)
            .order_by(DealStageChange.id)
        )
    ]
    assert kinds == [
        ("create", None, "initial_contact"),
        ("advance", "initial_contact", "needs_confirmed"),
        ("advance", "needs_confirmed", "demo"),
        ("send_back", "demo", "needs_confirmed"),
    ]
