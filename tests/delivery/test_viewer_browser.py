"""The viewer's tracking script in a real browser against the real ingest endpoint.

The app runs in a server thread on a free loopback port; headless Chromium (/usr/bin/chromium)
opens a two-page delivery, reads page 1 for about 13 s and page 2 for about 13 s (moving the
mouse now and then, so the reader counts as active), then closes the tab: `pagehide` sends the
final report by sendBeacon. The stored page.viewed durations must match the time really spent
on each page within ±3 s, and the session's doc.read total must match their sum.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import customer_side_support as support
import pytest
from customer_side_support import path_of
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.tracking.models import Event, EventType

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READ_SECONDS = 13.0  # per page: longer than one 10 s heartbeat
TOLERANCE_MS = 3000
FINAL_TIMEOUT = 20.0

shop = support.shop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return {
        **app_config,
        "SERVER_NAME": f"127.0.0.1:{port}",
        "BASE_URL": f"http://127.0.0.1:{port}",
    }


@pytest.fixture
def live_server(app, port) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        from tests.conftest import skip_or_fail

        skip_or_fail(f"{CHROMIUM} is not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def _events(delivery_id: int) -> list[Event]:
    db.session.rollback()  # a fresh read; and never hold a transaction the server waits on
    rows = list(
        db.session.scalars(
            select(Event).where(Event.delivery_id == delivery_id).order_by(Event.id)
        )
    )
    db.session.rollback()
    return rows


def _read(page, seconds: float) -> None:
    """Stay on the current page for `seconds`, moving the mouse every 2 s."""
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        page.mouse.move(200 + 40 * (step % 5), 300 + 30 * (step % 3))
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def test_read_time_per_page_reaches_the_server(live_server, shop, chromium):
    sent = shop.send(shop.template("智能工厂产品手册"))
    delivery_id = sent.delivery.id
    url = live_server + path_of(sent.url)
    db.session.rollback()

    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(url, wait_until="load")
    started = time.monotonic()
    page.wait_for_function("() => window.PortalViewer && window.PortalViewer.pageCount === 2")
    assert page.evaluate("() => window.PortalViewer.snapshot().current") == 1

    _read(page, READ_SECONDS)
    page.evaluate("() => document.getElementById('page-2').scrollIntoView()")
    scrolled = time.monotonic()
    page.wait_for_function("() => window.PortalViewer.snapshot().current === 2", timeout=5000)
    _read(page, READ_SECONDS)
    snapshot = page.evaluate("() => window.PortalViewer.snapshot()")
    closed = time.monotonic()
    page.close(run_before_unload=True)

    on_page_1 = (scrolled - started) * 1000
    on_page_2 = (closed - scrolled) * 1000

    deadline = time.monotonic() + FINAL_TIMEOUT
    events: list[Event] = []
    while time.monotonic() < deadline:
        events = _events(delivery_id)
        if any(
            e.type == EventType.PAGE_VIEWED and (e.properties or {}).get("final") for e in events
        ):
            break
        time.sleep(0.25)
    context.close()

    types = [e.type for e in events]
    assert EventType.LINK_OPENED in types
    views = [e for e in events if e.type == EventType.PAGE_VIEWED]
    finals = [e for e in views if (e.properties or {}).get("final")]
    assert finals, f"no final (beacon) report arrived; events: {types}; js: {snapshot}; {console}"
    assert finals[0].page == 2

    per_page = {1: 0, 2: 0}
    for view in views:
        per_page[view.page] += view.duration_ms or 0
    report = (
        f"page 1: stored {per_page[1]} ms vs {on_page_1:.0f} ms measured; "
        f"page 2: stored {per_page[2]} ms vs {on_page_2:.0f} ms measured; "
        f"{len(views)} reports; js: {snapshot}"
    )
    print(report)
    assert abs(per_page[1] - on_page_1) <= TOLERANCE_MS, report
    assert abs(per_page[2] - on_page_2) <= TOLERANCE_MS, report
    # At least one heartbeat per page besides the page change and the close.
    assert len([v for v in views if v.page == 1]) >= 2, report
    assert len([v for v in views if v.page == 2]) >= 2, report

    [summary] = [e for e in events if e.type == EventType.DOC_READ]
    assert summary.duration_ms == per_page[1] + per_page[2]
    assert abs(summary.duration_ms - (on_page_1 + on_page_2)) <= TOLERANCE_MS, report
    # The summary was brought up to date by the final report, sent after the tab closed.
    assert summary.properties["pages"] == {"1": per_page[1], "2": per_page[2]}
