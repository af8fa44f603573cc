"""The seed's false-optimism case, as `flask demo` loads it."""

from __future__ import annotations

from sqlalchemy import select

from portal import jobs
from portal.accounts.services import get_user_by_email
from portal.deals import forecast, services
from portal.deals.models import Deal
from portal.deals.views import view_of
from portal.extensions import db


def test_the_demo_deal_stuck_in_negotiation_is_flagged_and_sent_back(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    deal = db.session.scalar(select(Deal).where(Deal.title == "MES 产线追溯项目"))
    assert deal.stage == "negotiation"
    view = view_of(deal)
    assert view.risk.level == "high"
    assert view.risk.words == ["再考虑"] and view.risk.no_next_meeting
    assert view.stall is not None and view.stall.days_in_stage >= 90
    boss = get_user_by_email("supervisor@demo.portal")
    by_rep = {r.label: r.weighted_minor for r in forecast.forecast(boss, "rep")}
    services.send_back(boss, deal, "客户仍在考虑价格，回到方案演示")
    jobs.commit()
    assert deal.stage == "demo"
    after = {r.label: r.weighted_minor for r in forecast.forecast(boss, "rep")}
    owner = deal.owner.name
    assert by_rep[owner] - after[owner] == deal.amount_minor * (80 - 60) / 100
    # finance and legal were asked (the deal is above the threshold) and see it
    for email in ("finance@demo.portal", "legal@demo.portal"):
        user = get_user_by_email(email)
        assert [d.id for d in services.list_deals(user)] == [deal.id]
