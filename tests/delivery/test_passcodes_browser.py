"""The passcode page in real headless Chromium, as WeChat shows it on a phone (390 px) and on a
desktop (1366 px), in Chinese and English: nothing of the document until the passcode is
entered; a wrong one says so and keeps everything hidden; the right one opens the viewer with
its pages; the portal lists the document without its title, then with it.
Screenshots go to $PORTAL_SCREENSHOT_DIR.
"""

from __future__ import annotations

import customer_side_support as support
import pytest
from customer_side_support import path_of

from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    horizontal_overflow,
    live_server_fixture,
    port_fixture,
    screenshot,
    served_config,
)

pytestmark = pytest.mark.browser

WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
TITLE = "华东项目 MES 报价单"

shop = support.shop


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


@pytest.mark.parametrize(
    ("locale", "width", "asks", "wrong"),
    [
        ("zh-CN", 390, "此文档受密码保护", "密码不正确"),
        ("en", 390, "This document is protected by a passcode", "That passcode is not right"),
        ("zh-CN", 1366, "此文档受密码保护", "密码不正确"),
    ],
)
def test_the_passcode_page_on_a_phone_in_wechat_and_on_a_desktop(
    chromium, live_server, shop, locale, width, asks, wrong
):
    sent = shop.send(shop.template(TITLE, kind="quote"), passcode="482613")
    context = chromium.new_context(
        viewport={"width": width, "height": 844 if width < 800 else 900},
        user_agent=WECHAT_IPHONE if width < 800 else None,
        locale=locale,
        extra_http_headers={"Accept-Language": locale},
    )
    page = context.new_page()
    try:
        page.goto(live_server + path_of(sent.url))
        body = page.inner_text("body")
        assert asks in body
        assert TITLE not in page.content() and TITLE not in page.title()
        assert horizontal_overflow(page) <= 0, f"horizontal scroll at {width} px"
        field = page.locator("#passcode").bounding_box()
        button = page.locator("button[type=submit]").bounding_box()
        assert field["height"] >= 44 and button["height"] >= 44  # thumb-sized
        assert field["x"] >= 0 and field["x"] + field["width"] <= width
        assert page.evaluate("() => document.activeElement.id") == "passcode"
        assert page.get_attribute("#passcode", "inputmode") == "numeric"  # the digit keypad
        tag = f"{locale[:2]}-{width}"
        screenshot(page, f"passcode-{tag}.png")

        page.fill("#passcode", "111111")
        page.click("button[type=submit]")
        assert wrong in page.inner_text("body")
        assert TITLE not in page.content()
        assert horizontal_overflow(page) <= 0
        screenshot(page, f"passcode-wrong-{tag}.png")

        page.fill("#passcode", "482613")
        page.click("button[type=submit]")
        page.wait_for_selector("img[src*='/pages/1.png']")
        assert TITLE in page.inner_text(".v-title")
        page.wait_for_function(  # the page image is served to this device now
            "() => { const i = document.querySelector(\"img[src*='/pages/1.png']\");"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        page.goto(live_server + path_of(sent.portal_url))
        assert TITLE in page.inner_text("body")  # this device entered it
    finally:
        context.close()


def test_the_portal_lists_a_locked_document_without_its_title(chromium, live_server, shop):
    locked = shop.send(shop.template(TITLE, kind="quote"), passcode="482613")
    shop.send(shop.template("智能工厂产品手册"))
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, user_agent=WECHAT_IPHONE, locale="zh-CN"
    )
    page = context.new_page()
    try:
        page.goto(live_server + path_of(locked.portal_url))
        body = page.inner_text("body")
        assert "受密码保护的文档" in body and "智能工厂产品手册" in body
        assert TITLE not in page.content()
        assert horizontal_overflow(page) <= 0
        screenshot(page, "passcode-portal-zh-390.png")
        page.click("text=输入密码")
        assert "此文档受密码保护" in page.inner_text("body")
    finally:
        context.close()
