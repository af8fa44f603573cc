"""The forecast page's charts in headless Chromium, zh and en, at 390 and 1366 px: three SVG
charts, no horizontal scroll, no label running into its row's figure or out of the drawing,
text alternatives present (screenshots into $PORTAL_SCREENSHOT_DIR when set)."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from portal import jobs
from portal.db_types import utcnow
from portal.deals import forecast, services
from portal.engagement.facts import timezone as local_zone
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
    sign_in,
)
from tests.deals.conftest import new_deal, walk_to
from tests.deals.test_forecast_charts import _won_in_ten_days_per_stage

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _month(today: date, shift: int) -> date:
    """The 15th of the month `shift` months from today's."""
    index = today.year * 12 + today.month - 1 + shift
    return date(index // 12, index % 12 + 1, 15)


@pytest.fixture
def busy(sales):
    """Open deals over four months and every stage, a forecast snapshot taken before last
    month with one deal of last month won since, and a stalled deal."""
    today = utcnow().astimezone(local_zone()).date()
    last = _month(today, -1)
    won_deal = walk_to(
        sales.south_rep,
        new_deal(sales.south_rep, sales.shenzhen, "380000", last, "深圳工厂 MES"),
        "negotiation",
    )
    walk_to(
        sales.east_rep,
        new_deal(sales.east_rep, sales.shanghai, "1090000", last, "上海产线追溯"),
        "demo",
    )
    forecast.take_snapshot(last.replace(day=1) - timedelta(days=1))
    jobs.commit()
    services.mark_won(sales.south_rep, won_deal)
    services.backdate(won_deal, datetime.combine(last, time(12), local_zone()), 1)
    for shift, amount, stage, customer, rep in (
        (1, "250000", "initial_contact", sales.hangzhou, sales.east_rep2),
        (1, "1800000", "needs_confirmed", sales.shanghai, sales.east_rep),
        (2, "3200000", "demo", sales.shenzhen, sales.south_rep),
        (2, "640000", "negotiation", sales.shanghai, sales.east_rep),
        (3, "125000000", "needs_confirmed", sales.shenzhen, sales.south_rep),
    ):
        deal = new_deal(rep, customer, amount, _month(today, shift), f"项目 {amount}")
        walk_to(rep, deal, stage)
    for n in range(3):
        _won_in_ten_days_per_stage(sales, n)
    slow = walk_to(
        sales.east_rep,
        new_deal(
            sales.east_rep, sales.shanghai, "520000", _month(today, 1), "华东精密制造二期扩产"
        ),
        "demo",
    )
    slow.stage_entered_at = utcnow() - timedelta(days=31)
    jobs.commit()
    return sales


OVERLAPS = """(svg) => {
  const box = svg.getBoundingClientRect();
  const problems = [];
  for (const row of svg.querySelectorAll('g.chart-row')) {
    const [label, figure] = row.querySelectorAll('text');
    const a = label.getBoundingClientRect(), b = figure.getBoundingClientRect();
    if (a.right > b.left - 1) problems.push('label meets figure: ' + label.textContent);
    for (const r of [a, b]) {
      const out = r.left < box.left - 0.5 || r.right > box.right + 0.5;
      if (out) problems.push('outside: ' + label.textContent);
    }
  }
  return problems;
}"""


def test_the_forecast_charts_read_on_a_phone_and_a_desktop(chromium, live_server, busy, make_user):
    admin = make_user("admin")
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    for locale, words in (
        ("zh-CN", ("按月份和阶段的加权管道", "各区域预测与实际", "停滞商机", "万")),
        ("en", ("Weighted pipeline by month and stage", "Forecast vs actual", "Stalled deals")),
    ):
        context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
        page = context.new_page()
        sign_in(page, live_server, admin.email)
        for width, height in ((390, 844), (1366, 900)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{live_server}/deals/forecast", wait_until="load")
            text = page.inner_text("main")
            assert all(word in text for word in words), text
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"horizontal scroll at {width} px ({locale})"
            charts = page.locator("svg.chart-svg")
            assert charts.count() == 3
            for index in range(3):
                chart = charts.nth(index)
                box = chart.bounding_box()
                assert box and 0 < box["width"] <= width
                assert chart.locator("desc").text_content().strip()
                assert chart.evaluate(OVERLAPS) == []
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                name = f"forecast-{locale[:2]}-{width}.png"
                page.screenshot(path=str(Path(shots) / name), full_page=True)
                if width == 1366:
                    page.locator(".chart-grid").screenshot(
                        path=str(Path(shots) / f"forecast-charts-{locale[:2]}.png")
                    )
        context.close()
