"""The staff menu on a phone (headless Chromium, 390 px, zh and en): it scrolls sideways, and
the notifications bell with its unread count stays in sight at its right edge."""

from __future__ import annotations

import pytest

from portal import jobs
from portal.notifications.services import notify
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
    sign_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def test_the_bell_and_its_count_stay_in_sight_on_a_phone(chromium, live_server, make_user):
    rep = make_user("rep")
    for n in range(3):
        notify(rep, "delivery.opened", {"customer": f"客户{n}", "document": "方案报价"})
    jobs.commit()
    for locale in ("zh-CN", "en"):
        context = chromium.new_context(viewport={"width": 390, "height": 844}, locale=locale)
        page = context.new_page()
        sign_in(page, live_server, rep.email)
        page.goto(f"{live_server}/customers/", wait_until="load")
        nav = page.locator("nav.nav").bounding_box()
        badge = page.locator("a.nav-notes .nav-badge").bounding_box()
        assert badge is not None and nav is not None
        assert badge["x"] + badge["width"] <= 390, f"the unread count is off-screen ({locale})"
        # the menu is wider than the phone: it scrolls, and the bell is still in sight after
        assert page.evaluate(
            "() => { const n = document.querySelector('nav.nav');"
            " return n.scrollWidth > n.clientWidth; }"
        )
        page.evaluate("() => { document.querySelector('nav.nav').scrollLeft = 0; }")
        badge = page.locator("a.nav-notes .nav-badge").bounding_box()
        assert badge["x"] + badge["width"] <= 390
        context.close()
