"""The template analytics page in headless Chromium, zh and en, at 390 and 1366 px: no
horizontal scroll, the per-page chart drawn with its text alternative (screenshots into
$PORTAL_SCREENSHOT_DIR when set, for people to look at)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal import jobs
from portal.library import services as library
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
    sign_in,
)
from tests.delivery.helpers import make_delivery
from tests.read_models.conftest import THREE_PAGES, read

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def test_the_analytics_page_reads_on_a_phone_and_a_desktop(chromium, live_server, shop, history):
    library.add_version(
        shop.template,
        shop.marketing,
        filename="doc.html",
        data=THREE_PAGES.encode(),
        changelog="v2",
    )
    jobs.commit()
    v2 = make_delivery(shop.east_rep, shop.customers[1], shop.template).delivery
    read(v2, {1: 7_000, 2: 1_000})
    url = f"{live_server}/library/{shop.template.id}/analytics?version=1&compare=2"
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    for locale, words in (
        ("zh-CN", ("读者在哪一页停下", "预览/扫描")),
        ("en", ("Where readers stop", "Previews/scans")),
    ):
        context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
        page = context.new_page()
        sign_in(page, live_server, shop.marketing.email)
        for width, height in ((390, 844), (1366, 900)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(url, wait_until="load")
            text = page.inner_text("main")
            assert all(word in text for word in words), text
            assert "link.fetched" not in text and "internal.viewed" not in text
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"horizontal scroll at {width} px ({locale})"
            charts = page.locator("svg.an-chart")
            assert charts.count() == 2
            box = charts.first.bounding_box()
            assert box and 0 < box["width"] <= width
            assert charts.first.locator("desc").text_content().strip()  # the text alternative
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                name = f"analytics-{locale[:2]}-{width}.png"
                page.screenshot(path=str(Path(shots) / name), full_page=True)
        context.close()


def test_the_supervisor_home_page_headline_reads_on_a_phone_and_a_desktop(
    chromium, live_server, shop, history
):
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    for locale, title in (("zh-CN", "转化周期与 A 级成交率"), ("en", "A-grade close rate")):
        context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
        page = context.new_page()
        sign_in(page, live_server, shop.east_boss.email)
        for width, height in ((390, 844), (1366, 900)):
            page.set_viewport_size({"width": width, "height": height})
            for name, path in (("home", "/"), ("funnel", "/analytics/funnel?group=team")):
                page.goto(f"{live_server}{path}", wait_until="load")
                if name == "home":
                    assert title in page.inner_text("#headline")
                else:
                    assert page.locator("#funnel td[data-step]").count() == 6  # one row: their team
                overflow = page.evaluate(
                    "() => document.documentElement.scrollWidth"
                    " - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"horizontal scroll at {width} px ({locale}, {name})"
                if shots:
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    shot = Path(shots) / f"{name}-{locale[:2]}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
        context.close()
