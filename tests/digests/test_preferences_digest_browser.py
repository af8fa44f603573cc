"""The preferences page with the digest row, in headless Chromium at 390 and 1366 px: the row
reads in Chinese, its in-app cell has no box, e-mail is ticked, no horizontal scroll
(screenshots into $PORTAL_SCREENSHOT_DIR when set)."""

from __future__ import annotations

import pytest

from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    horizontal_overflow,
    live_server_fixture,
    port_fixture,
    screenshot,
    served_config,
    sign_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def test_the_digest_row_on_a_phone_and_a_desktop(chromium, live_server, make_user):
    rep = make_user("rep", email="rep@example.com")
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live_server, rep.email)
    for width, height in ((390, 844), (1366, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server}/notifications/preferences", wait_until="load")
        assert "摘要：每天早上（销售）、每周（主管）" in page.inner_text("main")
        assert page.is_checked("input[name='digest:email']")
        assert not page.is_checked("input[name='digest:chat']")
        assert page.locator("input[name='digest:app']").count() == 0
        assert horizontal_overflow(page) <= 0
        page.locator("input[name='digest:email']").scroll_into_view_if_needed()
        screenshot(page, f"preferences-digest-{width}.png")
    context.close()
