"""The forecast is Σ amount × probability, per rep, team, region and month, in each scope."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from portal import jobs
from portal.db_types import utcnow
from portal.deals import forecast, probabilities, services
from portal.engagement.facts import timezone as local_zone
from portal.errors import PermissionDenied, ValidationFailed
from tests.deals.conftest import new_deal, walk_to

MARCH, APRIL = date(2027, 3, 10), date(2027, 4, 20)


@pytest.fixture
def pipeline(sales, make_user):
    """Four open deals in three regions, two teams and two months, plus a lost one; 华南
    tuned its negotiation probability to 75 %."""
    walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "100000", MARCH), "needs_confirmed"
    )
    walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "200000", APRIL), "demo")
    new_deal(sales.east_rep2, sales.hangzhou, "50000", MARCH)
    walk_to(
        sales.south_rep, new_deal(sales.south_rep, sales.shenzhen, "300000", APRIL), "negotiation"
    )
    lost = new_deal(sales.south_rep, sales.shenzhen, "80000", MARCH)
    services.mark_lost(sales.south_rep, lost, "预算取消")
    probabilities.set_probability(sales.south_boss, "华南", "negotiation", 75)
    jobs.commit()
    return sales


def _weighted(rows) -> dict[str, Decimal]:
    return {row.label: row.weighted_minor for row in rows}


def test_forecast_per_rep_team_region_and_month(pipeline, make_user):
    admin = make_user("admin")
    # By hand, in yuan: 100000 × 35 %, 200000 × 60 %, 50000 × 10 %, 300000 × 75 % (tuned).
    d1, d2, d3, d4 = 35_000, 120_000, 5_000, 225_000
    yuan = lambda v: Decimal(v * 100)  # noqa: E731  (minor units)
    reps = forecast.forecast(admin, "rep")
    assert {r.label: r.weighted_minor for r in reps} == {
        pipeline.east_rep.name: yuan(d1 + d2),
        pipeline.east_rep2.name: yuan(d3),
        pipeline.south_rep.name: yuan(d4),
    }
    assert _weighted(forecast.forecast(admin, "team")) == {
        "华东": yuan(d1 + d2 + d3),
        "华南": yuan(d4),
    }
    assert _weighted(forecast.forecast(admin, "region")) == {
        "上海": yuan(d1 + d2),
        "杭州": yuan(d3),
        "深圳": yuan(d4),
    }
    months = forecast.forecast(admin, "month")
    assert _weighted(months) == {"2027-03": yuan(d1 + d3), "2027-04": yuan(d2 + d4)}
    # The lost deal counts nowhere; the pipeline is the unweighted sum.
    assert {r.label: r.pipeline_minor for r in months} == {
        "2027-03": (100_000 + 50_000) * 100,
        "2027-04": (200_000 + 300_000) * 100,
    }


def test_forecast_is_scoped(pipeline):
    assert _weighted(forecast.forecast(pipeline.east_boss, "team")) == {"华东": Decimal(16_000_000)}
    assert _weighted(forecast.forecast(pipeline.east_rep2, "rep")) == {
        pipeline.east_rep2.name: Decimal(500_000)
    }
    with pytest.raises(PermissionDenied):
        forecast.forecast(pipeline.finance, "rep")


def test_team_probability_only_within_range_and_by_that_teams_supervisor(sales):
    with pytest.raises(ValidationFailed) as refused:
        probabilities.set_probability(sales.east_boss, "华东", "demo", 75)
    assert "between 50 and 70" in refused.value.message
    with pytest.raises(ValidationFailed):
        probabilities.set_probability(sales.east_boss, "华东", "initial_contact", 4)
    with pytest.raises(PermissionDenied):
        probabilities.set_probability(sales.south_boss, "华东", "demo", 65)
    with pytest.raises(PermissionDenied):
        probabilities.set_probability(sales.east_rep, "华东", "demo", 65)
    probabilities.set_probability(sales.east_boss, "华东", "demo", 70)
    assert probabilities.team_table("华东")["demo"] == 70
    assert probabilities.team_table("华南")["demo"] == 60


def test_forecast_against_actual_from_the_snapshot(pipeline, make_user):
    admin = make_user("admin")
    # The forecast recorded before April: 上海 120000 (d2) and 深圳 225000 (d4) for April.
    forecast.take_snapshot(date(2027, 3, 31))
    jobs.commit()
    deal = services.list_deals(pipeline.south_rep, "negotiation")[0]
    services.mark_won(pipeline.south_rep, deal)
    # Won in April (the test's clock is today's): the history moved through the service, as
    # a deal never changes outside it (portal.deals.guard).
    services.backdate(deal, datetime.combine(APRIL, time(12), local_zone()), 1)
    jobs.commit()
    cells = forecast.accuracy(admin, "region", today=date(2027, 5, 1))
    shenzhen = cells[("深圳", "2027-04")]
    assert (shenzhen.forecast_minor, shenzhen.actual_minor) == (22_500_000, 30_000_000)
    assert shenzhen.deviation_pct == round((300_000 - 225_000) * 100 / 225_000, 1)
    assert cells[("上海", "2027-04")].deviation_pct == -100.0
    heat = forecast.deviation_heatmap(admin, today=date(2027, 5, 1))
    assert "2027-04" in heat.months and "深圳" in heat.regions
    # A supervisor's heatmap holds only their team's regions.
    assert (
        "深圳" not in forecast.deviation_heatmap(pipeline.east_boss, today=date(2027, 5, 1)).regions
    )
    # A month that has not ended is not judged yet.
    assert {m for _, m in forecast.accuracy(admin, "region", today=date(2027, 4, 30))} == {
        "2027-03"
    }


def test_stalled_when_longer_than_won_deals_took(sales):
    from portal.deals.models import DealStageChange
    from portal.deals.stalled import benchmarks, stall_of
    from portal.extensions import db

    for n in range(3):  # three won deals that spent 10 days in demo
        deal = walk_to(
            sales.east_rep, new_deal(sales.east_rep, sales.shanghai, title=f"w{n}"), "negotiation"
        )
        services.mark_won(sales.east_rep, deal)
        changes = db.session.scalars(
            db.select(DealStageChange)
            .where(DealStageChange.deal_id == deal.id)
            .order_by(DealStageChange.id)
        ).all()
        for change in changes:  # spread the history: 10 days per stage
            change.at = utcnow() - timedelta(days=50 - 10 * changes.index(change))
    jobs.commit()
    marks = benchmarks()
    assert marks.typical("华东", "demo") == pytest.approx(10 * 86400, rel=0.01)
    slow = walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai), "demo")
    assert stall_of(slow, marks) is None
    slow.stage_entered_at = utcnow() - timedelta(days=15)
    stall = stall_of(slow, marks)
    assert stall is not None and stall.days_in_stage == 15 and stall.typical_days == 10
