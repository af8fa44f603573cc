"""The forecast page's charts: weighted pipeline by month and stage, forecast vs actual by region,
stalled deals. Deals are made and moved through the real services; every drawn figure (each
bar's tooltip, its length, the row's figure, the table beside the chart) is recomputed here
from the stored rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.deals import approvals, forecast, probabilities, services
from portal.deals.models import Deal, DealStageChange, ForecastSnapshot
from portal.deals.stages import OPEN_STAGES
from portal.engagement.facts import timezone as local_zone
from portal.extensions import db
from portal.read_models.charts import CHART_WIDTH, PAD, compact_amount
from portal.read_models.forecast_charts import forecast_charts
from tests.deals.conftest import new_deal, walk_to

MARCH, APRIL = date(2027, 3, 10), date(2027, 4, 20)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def pipeline(sales):
    """Open deals in two months and every stage across two teams (华南 tuned negotiation to
    75 %), a lost one, and a big one of 10,900,000 to show 万 and 亿 figures."""
    walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "100000", MARCH), "needs_confirmed"
    )
    walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "1090000", APRIL), "demo")
    new_deal(sales.east_rep2, sales.hangzhou, "50000", MARCH)
    walk_to(
        sales.south_rep,
        new_deal(sales.south_rep, sales.shenzhen, "300000000", APRIL),
        "negotiation",
    )
    lost = new_deal(sales.south_rep, sales.shenzhen, "80000", MARCH)
    services.mark_lost(sales.south_rep, lost, "预算取消")
    probabilities.set_probability(sales.south_boss, "华南", "negotiation", 75)
    jobs.commit()
    return sales


def expected_weighted(owner_ids: set[int] | None = None) -> dict[tuple[str, str], Decimal]:
    """(month, stage) -> Σ amount × the owner team's probability, from the stored deals."""
    result: dict[tuple[str, str], Decimal] = {}
    for deal in db.session.scalars(select(Deal)):
        if deal.stage not in OPEN_STAGES or (owner_ids and deal.owner_id not in owner_ids):
            continue
        percent = probabilities.team_table(deal.owner.team or "")[deal.stage]
        key = (deal.expected_close.strftime("%Y-%m"), deal.stage)
        result[key] = result.get(key, Decimal(0)) + Decimal(deal.amount_minor * percent) / 100
    return result


def full(minor: Decimal | int) -> str:
    return f"{Decimal(minor) / 100:,.2f}"


def svg(page, chart_id: str):
    found = page.xpath(f"//svg[.//title[@id='{chart_id}-title']]")
    assert found, f"no chart {chart_id}"
    return found[0]


def rows_of(chart) -> list[dict]:
    """Each drawn row: label, figure, and its bars (class, width, tooltip)."""
    rows = []
    for group in chart.xpath(".//g[@class='chart-row']"):
        label, figure = group.xpath("./text")
        rows.append(
            {
                "label": label.xpath("./title")[0].text,
                "figure": figure.text,
                "bars": [
                    (
                        rect.get("class").removeprefix("chart-s-"),
                        float(rect.get("width")),
                        rect.xpath("./title")[0].text,
                    )
                    for rect in group.xpath("./rect")
                ],
            }
        )
    return rows


def test_weighted_pipeline_by_month_and_stage_recomputed(pipeline, make_user, client, login):
    admin = make_user("admin")
    weighted = expected_weighted()
    assert forecast.weighted_by_month_and_stage(admin) == weighted
    # by hand, to be sure the recomputation itself is right: 1,090,000 × 60 % in demo
    assert weighted[("2027-04", "demo")] == Decimal(654_000_00)
    login(admin)
    page = lxml_html.fromstring(client.get("/deals/forecast", headers=ZH).get_data(as_text=True))
    rows = rows_of(svg(page, "c-pipeline"))
    assert [r["label"] for r in rows] == ["2027-03", "2027-04"]
    totals = {
        m: sum((v for (month, _), v in weighted.items() if month == m), Decimal(0))
        for m in ("2027-03", "2027-04")
    }
    largest = max(totals.values())
    span = CHART_WIDTH - 2 * PAD
    for row in rows:
        month = row["label"]
        assert row["figure"] == compact_amount(totals[month] / 100, "zh")
        drawn = {stage: (width, title) for stage, width, title in row["bars"]}
        for stage, (width, title) in drawn.items():
            value = weighted.get((month, stage), Decimal(0))
            assert width == pytest.approx(float(value) * span / float(largest), abs=0.06)
            assert full(value) in title  # the whole figure in the tooltip
    # 300,000,000 × 75 % + 654,000 = 225,654,000: 亿 on a zh page
    assert rows[1]["figure"] == "2.26 亿"
    # the table beside the chart: 万 on the page, the whole figure as its tooltip
    cell = page.xpath("//table[@id='t-pipeline']//tr[@data-month='2027-04']/td[@data-stage='demo']")
    assert cell[0].text_content().strip() == "65.4 万"
    assert cell[0].xpath(".//span/@title") == ["654,000.00"]


def test_english_page_keeps_whole_figures_and_shortens_chart_labels(pipeline, client, login):
    login(pipeline.east_rep)
    page = lxml_html.fromstring(client.get("/deals/forecast", headers=EN).get_data(as_text=True))
    rows = rows_of(svg(page, "c-pipeline"))
    # the rep's own deals only: 100,000 × 35 % in March, 1,090,000 × 60 % in April
    assert [(r["label"], r["figure"]) for r in rows] == [
        ("2027-03", "35K"),
        ("2027-04", "654K"),
    ]
    cell = page.xpath("//table[@id='t-pipeline']//tr[@data-month='2027-04']/td[@data-stage='demo']")
    assert cell[0].text_content().strip() == "654,000.00"
    text = page.text_content()
    assert "万" not in text


def test_pipeline_chart_is_scoped(pipeline, client, login):
    east = {pipeline.east_rep.id, pipeline.east_rep2.id}
    assert forecast.weighted_by_month_and_stage(pipeline.east_boss) == expected_weighted(east)
    login(pipeline.east_boss)
    page = lxml_html.fromstring(client.get("/deals/forecast", headers=ZH).get_data(as_text=True))
    titles = [b[2] for r in rows_of(svg(page, "c-pipeline")) for b in r["bars"]]
    assert not any(full(300_000_000_00 * 75 // 100) in t for t in titles)
    assert not page.xpath("//table[@id='t-pipeline']//td[@data-stage='negotiation']")


def test_forecast_vs_actual_by_region(pipeline, make_user, client):
    admin = make_user("admin")
    forecast.take_snapshot(date(2027, 3, 31))
    jobs.commit()
    deal = services.list_deals(pipeline.south_rep, "negotiation")[0]
    approvals.decide(pipeline.finance, deal, "finance", "approved")
    approvals.decide(pipeline.legal, deal, "legal", "approved")
    services.mark_won(pipeline.south_rep, deal)
    services.backdate(deal, datetime.combine(APRIL, time(12), local_zone()), 1)
    jobs.commit()
    heat = forecast.deviation_heatmap(admin, today=date(2027, 5, 1))
    totals = forecast.region_totals(heat)
    # recomputed from the stored snapshot rows and the won deals
    snap: dict[str, int] = {}
    for row in db.session.scalars(select(ForecastSnapshot)):
        if row.month in heat.months:
            snap[row.region] = snap.get(row.region, 0) + row.weighted_minor
    won: dict[str, int] = {}
    for d in db.session.scalars(select(Deal).where(Deal.stage == "won")):
        if d.expected_close.strftime("%Y-%m") in heat.months:
            won[d.customer.region] = won.get(d.customer.region, 0) + d.amount_minor
    assert {r: (a.forecast_minor, a.actual_minor) for r, a in totals.items()} == {
        r: (snap.get(r, 0), won.get(r, 0)) for r in set(snap) | set(won)
    }
    assert totals["深圳"].actual_minor == 300_000_000_00
    # The page judges the months ended before today, and these are in 2027: the chart of
    # that heatmap is drawn by the page's read model, in a zh request.
    with client.application.test_request_context(headers=ZH):
        charts = forecast_charts(admin, "CNY", heat)
    drawn = {row.full_label: row for row in charts.region_chart.rows}
    shenzhen = drawn["深圳"]
    assert shenzhen.figure == (
        f"{compact_amount(Decimal(snap['深圳']) / 100, 'zh')} → "
        f"{compact_amount(Decimal(won['深圳']) / 100, 'zh')}"
    )
    assert [b.series for b in shenzhen.bars] == ["forecast", "won"]
    assert full(won["深圳"]) in shenzhen.bars[1].title
    biggest = max(max(a.forecast_minor, a.actual_minor) for a in totals.values())
    assert shenzhen.bars[1].width == pytest.approx(
        won["深圳"] * (CHART_WIDTH - 2 * PAD) / biggest, abs=0.06
    )


def _won_in_ten_days_per_stage(sales, n: int) -> None:
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, title=f"w{n}"), "negotiation"
    )
    services.mark_won(sales.east_rep, deal)
    changes = db.session.scalars(
        select(DealStageChange)
        .where(DealStageChange.deal_id == deal.id)
        .order_by(DealStageChange.id)
    ).all()
    for index, change in enumerate(changes):
        change.at = utcnow() - timedelta(days=50 - 10 * index)


def test_stalled_deals_chart(sales, client, login):
    for n in range(3):
        _won_in_ten_days_per_stage(sales, n)
    jobs.commit()
    slow = walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai, title="慢项目"), "demo")
    slow.stage_entered_at = utcnow() - timedelta(days=25)
    quick = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, title="快项目"), "demo"
    )
    other = walk_to(
        sales.south_rep, new_deal(sales.south_rep, sales.shenzhen, title="南方项目"), "demo"
    )
    other.stage_entered_at = utcnow() - timedelta(days=40)
    jobs.commit()
    login(sales.east_boss)
    page = lxml_html.fromstring(client.get("/deals/forecast", headers=ZH).get_data(as_text=True))
    rows = rows_of(svg(page, "c-stalled"))
    assert [r["label"] for r in rows] == [f"慢项目 · {sales.shanghai.name}"]
    (stalled_days, stalled_title), (typical_days, _) = [(b[1], b[2]) for b in rows[0]["bars"]]
    assert stalled_days == pytest.approx(CHART_WIDTH - 2 * PAD)  # 25 days: the largest bar
    assert typical_days == pytest.approx((CHART_WIDTH - 2 * PAD) * 10 / 25, abs=0.06)
    assert "25" in stalled_title
    table = page.xpath("//table[@id='t-stalled']//tr[@data-deal]")
    assert [int(tr.get("data-deal")) for tr in table] == [slow.id]
    assert quick.id != slow.id  # the quick one is in its stage, not stalled
    # the south team's stalled deal is theirs alone
    south = client.application.test_client()
    south.post("/login", data={"email": sales.south_boss.email, "password": "password123"})
    page = lxml_html.fromstring(south.get("/deals/forecast", headers=ZH).get_data(as_text=True))
    assert [r["label"] for r in rows_of(svg(page, "c-stalled"))] == [
        f"南方项目 · {sales.shenzhen.name}"
    ]
