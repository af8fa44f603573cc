"""The seed's false-optimism case, and finance/legal approval of large deals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from portal import jobs
from portal.db_types import utcnow
from portal.deals import approvals, forecast, services
from portal.deals.errors import DealRefused
from portal.deals.risk import hedge_words_in
from portal.deals.views import view_of
from portal.errors import NotFound
from portal.extensions import db
from portal.notifications.models import Notification
from tests.deals.conftest import new_deal, walk_to


def test_hedge_words_latin_whole_words_case_insensitive():
    assert hedge_words_in("We'll see. MAYBE next week") == ["maybe", "we'll see"]
    assert hedge_words_in("We’ll see") == ["we'll see"]
    assert hedge_words_in("country entry retry considerable") == []
    assert hedge_words_in("我们尽量争取，以后再说") == ["尽量", "争取", "以后再说"]


def test_false_optimism_is_flagged_and_sending_it_back_lowers_the_forecast(sales):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "400000"), "negotiation"
    )
    deal.stage_entered_at = utcnow() - timedelta(days=92)  # three months in 商务谈判
    services.add_note(sales.east_rep, deal, "已发报价，客户说会尽快回复", "note")
    services.add_note(sales.east_rep, deal, "客户：价格这块我们再考虑一下", "chat")
    jobs.commit()
    view = view_of(deal)
    assert view.risk.level == "high"
    assert view.risk.words == ["再考虑"]
    assert view.risk.no_next_meeting
    before = forecast.forecast(sales.east_boss, "rep")[0].weighted_minor
    assert before == Decimal(400_000 * 80)
    services.send_back(sales.east_boss, deal, "客户仍在犹豫，回到方案演示")
    jobs.commit()
    assert deal.stage == "demo"
    after = forecast.forecast(sales.east_boss, "rep")[0].weighted_minor
    assert after == Decimal(400_000 * 60) < before
    # A meeting on the calendar lowers the risk; the words stay listed.
    services.set_next_meeting(sales.east_rep, deal, utcnow() + timedelta(days=3))
    assert view_of(deal).risk.level == "medium"


def test_above_the_threshold_cannot_be_won_until_finance_and_legal_approve(sales, app):
    assert app.config["APPROVAL_THRESHOLD"] == 500_000
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "680000"), "negotiation"
    )
    rows = approvals.approvals_of(deal)
    assert [(a.role, a.status) for a in rows] == [("finance", "pending"), ("legal", "pending")]
    notified = {n.user_id for n in db.session.scalars(db.select(Notification))}
    assert {sales.finance.id, sales.legal.id} <= notified
    with pytest.raises(DealRefused) as refused:
        services.mark_won(sales.east_rep, deal)
    assert refused.value.code == "approval_pending"
    assert "finance, legal" in refused.value.message
    with pytest.raises(NotFound):  # legal cannot decide for finance
        approvals.decide(sales.legal, deal, "finance", "approved")
    approvals.decide(sales.finance, deal, "finance", "approved")
    with pytest.raises(DealRefused) as refused:
        services.mark_won(sales.east_rep, deal)
    assert "legal" in refused.value.message and "finance," not in refused.value.message
    approvals.decide(sales.legal, deal, "legal", "rejected", "条款需修改")
    with pytest.raises(DealRefused):
        services.mark_won(sales.east_rep, deal)
    approvals.decide(sales.legal, deal, "legal", "approved")
    services.mark_won(sales.east_rep, deal)
    assert deal.stage == "won" and deal.closed_at is not None


def test_below_the_threshold_needs_no_approval(sales):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "500000"), "negotiation"
    )
    assert approvals.approvals_of(deal) == []
    services.mark_won(sales.east_rep, deal)
    assert deal.stage == "won"
