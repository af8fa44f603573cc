"""What counts as an open, in real headless Chromium (issue 11 acceptance).

One browser for the module's one test (browsers are the expensive part), several contexts:
- a scripted GET of the link (a browser User-Agent, no JavaScript) and a HEAD: 1 preview,
  0 opens, 0 points, no notification;
- the customer reads in Chromium: 1 open, and the credited read time is within 10 % of the
  time the test measured on its own clock;
- the rep, signed in, reads the same link: 0 points more, 1 internal view, no read time;
- the rep's customer page shows the preview and the internal view with human labels, at 390 px
  and 1366 px (screenshots into $PORTAL_SCREENSHOT_DIR when set, for people to look at).
"""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

import customer_side_support as support
import pytest
from customer_side_support import path_of
from sqlalchemy import func, select

from portal import jobs
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tracking.models import Event, EventType, ViewSession
from portal.tracking.readtime import delivery_stats
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    fresh,
    live_server_fixture,
    port_fixture,
    read_actively,
    served_config,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
READ_SECONDS = 15.0
WAIT = 20.0  # seconds to wait for what the browser sends

shop = support.shop


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _points(customer_id: int) -> int:
    return fresh(
        lambda: db.session.scalar(
            select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
                ScoreEntry.customer_id == customer_id
            )
        )
    )


def _notes() -> int:
    return fresh(lambda: db.session.scalar(select(func.count()).select_from(Notification)))


def _stats(delivery_id: int):
    return fresh(lambda: delivery_stats([delivery_id])[delivery_id])


@pytest.mark.long(seconds=23)
def test_previews_opens_and_internal_views_in_a_real_browser(live_server, shop, chromium):
    rules.install_defaults()
    jobs.commit()
    sent = shop.send(shop.template("MES 报价单", kind="quote"))
    delivery_id, customer_id = sent.delivery.id, shop.customer.id
    url = live_server + path_of(sent.url)
    db.session.rollback()

    # 1. A script fetches the link with a browser's User-Agent (no JS), then a HEAD.
    for method in ("GET", "HEAD"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": CHROME_UA})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    stats = _stats(delivery_id)
    assert (stats.opens, stats.previews, stats.internal_views) == (0, 1, 0)
    assert _points(customer_id) == 0
    assert _notes() == 0

    # 2. The customer reads in Chromium; the test keeps its own clock.
    customer = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = customer.new_page()
    started = time.monotonic()
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.PortalViewer && window.PortalViewer.snapshot().confirmed")
    read_actively(page, READ_SECONDS)
    page.close(run_before_unload=True)
    measured_ms = (time.monotonic() - started) * 1000

    def final_report_in() -> bool:
        return any((e.properties or {}).get("final") for e in _all_views(delivery_id))

    wait_until(final_report_in, WAIT, "the final (beacon) report")
    customer.close()
    stats = _stats(delivery_id)
    credited_ms = fresh(
        lambda: int(
            db.session.scalar(
                select(func.sum(ViewSession.credited_ms)).where(
                    ViewSession.delivery_id == delivery_id
                )
            )
        )
    )
    report = f"credited {credited_ms} ms, measured {measured_ms:.0f} ms"
    assert (stats.opens, stats.previews, stats.internal_views) == (1, 1, 0), report
    assert abs(credited_ms - measured_ms) <= 0.10 * measured_ms, report
    points_after_read = _points(customer_id)
    assert points_after_read >= 25  # doc_opened 5 + pricing_viewed 20 (+ its profile points)
    assert _notes() == 1  # "the customer is viewing it now", once

    # 3. The rep, signed in, reads the same link: an internal view.
    rep = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    staff = rep.new_page()
    staff.goto(f"{live_server}/login", wait_until="load")
    staff.fill("input[name=email]", shop.rep.email)
    staff.fill("input[name=password]", "password123")
    with staff.expect_navigation():
        staff.press("input[name=password]", "Enter")
    staff.goto(url, wait_until="load")
    assert staff.evaluate("() => window.PortalViewer === undefined")  # no session, no reports
    read_actively(staff, 2.0)
    stats = _stats(delivery_id)
    assert (stats.opens, stats.previews, stats.internal_views) == (1, 1, 1)
    assert _points(customer_id) == points_after_read
    assert _notes() == 1

    # 4. The rep's page shows the preview and the internal view, labelled, at two widths.
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    for width, height in ((390, 844), (1366, 900)):
        staff.set_viewport_size({"width": width, "height": height})
        staff.goto(f"{live_server}/customers/{customer_id}", wait_until="load")
        text = staff.inner_text("main")
        assert "预览/扫描" in text and "内部查看" in text, text
        assert "link.fetched" not in text and "internal.viewed" not in text
        overflow = staff.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"horizontal scroll at {width} px"
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            staff.screenshot(path=str(Path(shots) / f"signals-{width}.png"), full_page=True)
    rep.close()


def _all_views(delivery_id: int) -> list[Event]:
    return fresh(
        lambda: db.session.scalars(
            select(Event).where(
                Event.delivery_id == delivery_id, Event.type == EventType.PAGE_VIEWED
            )
        ).all()
    )
