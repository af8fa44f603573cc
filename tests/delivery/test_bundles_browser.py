"""The bundle page (资料包) in headless Chromium at phone (390 × 844) and desktop (1280) width:
every document with its thumbnail and open button, no sideways scrolling. Screenshots go to
$PORTAL_SCREENSHOT_DIR when it is set."""

from __future__ import annotations

from urllib.parse import urlsplit

import customer_side_support as support
import pytest

from portal import jobs
from portal.branding import service as branding
from portal.delivery import bundles
from portal.delivery.services import SendRequest
from portal.extensions import db
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    horizontal_overflow,
    live_server_fixture,
    loaded_width,
    port_fixture,
    screenshot,
    served_config,
)

pytestmark = pytest.mark.browser

shop = support.shop
SIZES = {"390": {"width": 390, "height": 844}, "1280": {"width": 1280, "height": 800}}


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def test_the_bundle_page_on_a_phone_and_a_desktop(live_server, shop, chromium):
    branding.save_brand(None, "远景智造科技", "#0a7d5a")
    jobs.commit()
    templates = [
        shop.template("MES 报价单", kind="quote"),
        shop.template("汽车零部件客户案例", kind="case_study"),
        shop.template("智能工厂产品手册", kind="brochure"),
    ]
    sent = bundles.send_bundle(
        shop.rep,
        SendRequest(
            customer_id=shop.customer.id,
            template_ids=[t.id for t in templates],
            message="张总您好，报价、案例和产品手册请查收。",
        ),
    )
    jobs.commit()
    path = urlsplit(sent.url).path
    db.session.rollback()
    for size, viewport in SIZES.items():
        context = chromium.new_context(viewport=viewport, locale="zh-CN")
        page = context.new_page()
        page.goto(live_server + path, wait_until="load")
        assert page.locator("h1").inner_text() == "资料包：3 份资料"
        docs = page.locator("[data-bundle-doc]")
        assert docs.count() == 3
        for index in range(3):
            assert loaded_width(docs.nth(index).locator("img")) > 0
            button = docs.nth(index).locator(".c-btn-primary")
            assert button.is_visible() and button.bounding_box()["height"] >= 40
        assert horizontal_overflow(page) <= 0, size
        screenshot(page, f"bundle-{size}-zh.png")
        context.close()
