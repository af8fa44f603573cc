"""The branded customer pages in headless Chromium, at phone (390 × 844) and desktop (1280)
width, in Chinese and English: the company's bar and colour, the rep's card with a tap-to-call
button that fits the screen, no sideways scrolling. Screenshots go to $PORTAL_SCREENSHOT_DIR
when it is set, for people to look at.
"""

from __future__ import annotations

import io

import customer_side_support as support
import pytest
from customer_side_support import path_of
from PIL import Image

from portal import jobs
from portal.branding import rep_cards
from portal.branding import service as branding
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
ACCENT_RGB = "rgb(10, 125, 90)"
SIZES = {"390": {"width": 390, "height": 844}, "1280": {"width": 1280, "height": 800}}


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _logo() -> bytes:
    image = Image.new("RGB", (180, 60), "#0a7d5a")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _qr() -> bytes:
    image = Image.new("L", (232, 232), 255)
    for x in range(0, 232, 8):  # a QR-like checker, enough to see it on the card
        for y in range(0, 232, 8):
            if (x * 7 + y * 13) % 3 == 0 or (x < 64 and y < 64):
                image.paste(0, (x, y, x + 8, y + 8))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_branded_viewer_and_portal_on_a_phone_and_a_desktop(live_server, shop, chromium, locale):
    branding.save_brand(None, "远景智造科技", "#0a7d5a", logo=_logo())
    rep_cards.save_card(shop.rep, "大客户经理", "+86 138 0013 8000", "lilei_sales", qr=_qr())
    jobs.commit()
    sent = shop.send(shop.template("智能工厂产品手册"), message="张总您好，产品手册请查收。")
    pages = {"viewer": path_of(sent.url), "portal": path_of(sent.portal_url)}
    db.session.rollback()
    lang = "zh" if locale == "zh-CN" else "en"
    for size, viewport in SIZES.items():
        context = chromium.new_context(viewport=viewport, locale=locale)
        page = context.new_page()
        for name, path in pages.items():
            page.goto(live_server + path, wait_until="load")
            bar = page.locator(".c-brand")
            assert bar.is_visible()
            assert "远景智造科技" in bar.inner_text()
            assert loaded_width(page.locator(".c-brand-logo")) == 180
            assert horizontal_overflow(page) <= 0, (name, size)
            screenshot(page, f"brand-{name}-{size}-{lang}.png")
            card = page.locator("[data-rep-card]")
            card.scroll_into_view_if_needed()
            call = card.locator("a[href^='tel:']")
            assert call.get_attribute("href") == "tel:+8613800138000"
            box = call.bounding_box()
            assert box["height"] >= 40 and box["x"] >= 0
            assert box["x"] + box["width"] <= viewport["width"]
            assert call.evaluate("a => getComputedStyle(a).backgroundColor") == ACCENT_RGB
            assert card.locator("a[href^='mailto:']").is_visible()
            assert loaded_width(card.locator(".c-rep-qr")) == 232
            screenshot(page, f"brand-{name}-{size}-{lang}-card.png")
        context.close()
