"""Without Redis the live badge comes by polling (GET /live/now): the rep's customer page in
Chromium shows "正在阅读" after the customer's confirmed open, and loses it after their final
report, with no reload and no stream (the page never asks for /live)."""

from __future__ import annotations

import pytest

from tests.browser_support import (  # noqa: F401  (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
    sign_in,
)
from tests.delivery.helpers import make_delivery
from tests.live.test_live import read_report, viewer_page
from tests.viewer_support import confirm

pytestmark = pytest.mark.browser
POLL_MARGIN_MS = 15_000  # one poll period is 5 s; the rest absorbs a loaded machine


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


@pytest.mark.long(seconds=12)
def test_the_badge_comes_and_goes_by_polling(app, world, live_server, chromium):
    sent = make_delivery(world.rep, world.customer, world.template)
    page = chromium.new_page(locale="zh-CN", viewport={"width": 1366, "height": 900})
    streams = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/live") else None)
    sign_in(page, live_server, world.rep.email)
    page.goto(f"{live_server}/customers/{world.customer.id}")
    badge = page.locator(f"[data-live-customer='{world.customer.id}']").first
    assert badge.is_hidden()

    reader, doc = viewer_page(app, sent.url)
    assert confirm(reader, doc).status_code == 200
    badge.wait_for(state="visible", timeout=POLL_MARGIN_MS)
    assert badge.inner_text().strip() == "正在阅读 第 1 页"

    read_report(reader, doc, 2, final=True)
    badge.wait_for(state="hidden", timeout=POLL_MARGIN_MS)
    assert streams == []  # no Redis: the page polled, never opened a stream
    page.close()
