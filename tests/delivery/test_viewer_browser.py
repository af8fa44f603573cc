"""The viewer's tracking script in a real browser against the real ingest endpoint.

The app runs in a server thread on a free loopback port; headless Chromium (/usr/bin/chromium)
opens a two-page delivery, reads page 1 for about 13 s and page 2 for about 13 s (moving the
mouse now and then, so the reader counts as active), then closes the tab: `pagehide` sends the
final report by sendBeacon. The stored page.viewed durations must match the time really spent
on each page within ±3 s, and the session's doc.read total must match their sum.
"""

from __future__ import annotations

import re
import time

import customer_side_support as support
import pytest
from customer_side_support import path_of
from sqlalchemy import select

from portal.extensions import db
from portal.tracking.models import Event, EventType
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    read_actively,
    served_config,
)

pytestmark = pytest.mark.browser

READ_SECONDS = 13.0  # per page: longer than one 10 s heartbeat
TOLERANCE_MS = 3000
FINAL_TIMEOUT = 20.0

shop = support.shop


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _events(delivery_id: int) -> list[Event]:
    db.session.rollback()  # a fresh read; and never hold a transaction the server waits on
    rows = list(
        db.session.scalars(select(Event).where(Event.delivery_id == delivery_id).order_by(Event.id))
    )
    db.session.rollback()
    return rows


@pytest.mark.long(seconds=28)
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

    read_actively(page, READ_SECONDS)
    page.evaluate("() => document.getElementById('page-2').scrollIntoView()")
    scrolled = time.monotonic()
    page.wait_for_function("() => window.PortalViewer.snapshot().current === 2", timeout=5000)
    read_actively(page, READ_SECONDS)
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


# --- the script's rules, on a fake clock and a fake collect endpoint ---------------------------


class FakeCollect:
    """Answers the viewer's POSTs to /t/r from a script of statuses (then 202), and keeps them."""

    def __init__(self, page, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict] = []
        page.route("**/t/r", self._handle)

    def _handle(self, route) -> None:
        import json

        self.bodies.append(json.loads(route.request.post_data or "{}"))
        status = self.statuses.pop(0) if self.statuses else 202
        route.fulfill(status=status, content_type="application/json", body="{}")

    @property
    def reports(self) -> list[dict]:
        return [r for body in self.bodies for r in body["reports"]]


START = 1_800_000_000_000  # the fake clock's epoch ms


def _settle(page, until, timeout: float = 5.0):
    """Let the browser and the route handler run (real time) until until() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.evaluate("() => 0")  # lets Playwright dispatch pending route callbacks
        if until():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def viewer_page(live_server, shop, chromium):
    """open() -> a page showing a 2-page delivery, on a fake clock, before any report."""
    sent = shop.send(shop.template("智能工厂产品手册"))
    url = live_server + path_of(sent.url)
    db.session.rollback()
    context = chromium.new_context(viewport={"width": 1280, "height": 800})

    def open_page(statuses: list[int] | None = None):
        page = context.new_page()
        page.clock.install(time=START)
        page.clock.pause_at(START + 1_000)  # from here on, time moves only when told to
        collect = FakeCollect(page, statuses)
        page.goto(url, wait_until="load")
        page.wait_for_function("() => window.PortalViewer")
        return page, collect

    yield open_page
    context.close()


def _snapshot(page) -> dict:
    return page.evaluate("() => window.PortalViewer.snapshot()")


def _failures(page) -> int:
    """Failed posts the viewer has read the answer of (each one schedules its retry)."""
    return _snapshot(page)["stats"]["failures"]


def test_heartbeats_report_every_10s_and_an_idle_reader_stops_counting(viewer_page):
    page, collect = viewer_page()
    page.clock.run_for(10_000)
    _settle(page, lambda: len(collect.bodies) == 1)
    [first] = collect.reports
    assert first["type"] == "page.viewed" and first["page"] == 1 and first["final"] is False
    assert 9_500 <= first["ms"] <= 10_000
    assert isinstance(first["at"], int)
    assert re.fullmatch(r"[0-9a-f-]{36}", first["k"])
    assert collect.bodies[0]["s"]

    # No input since the page opened: time counts for 60 s, then stops.
    page.clock.run_for(120_000)
    _settle(page, lambda: _snapshot(page)["queued"] == 0)
    total = sum(r["ms"] for r in collect.reports)
    assert 59_000 <= total <= 60_000, collect.reports
    posts = len(collect.bodies)
    page.clock.run_for(30_000)
    page.evaluate("() => 0")
    assert len(collect.bodies) == posts  # idle: no heartbeats

    # Input again: counting resumes, the idle gap never counts.
    page.mouse.move(300, 300)
    page.clock.run_for(20_000)
    _settle(page, lambda: sum(r["ms"] for r in collect.reports) >= total + 19_000)
    assert sum(r["ms"] for r in collect.reports) <= total + 20_000
    assert len({r["k"] for r in collect.reports}) == len(collect.reports)


def test_changing_page_reports_the_previous_page_at_once(viewer_page):
    page, collect = viewer_page()
    page.clock.run_for(4_000)
    page.evaluate("() => document.getElementById('page-2').scrollIntoView()")
    _settle(page, lambda: len(collect.reports) == 1)
    [report] = collect.reports
    assert report["page"] == 1
    assert 3_500 <= report["ms"] <= 4_100
    assert _snapshot(page)["current"] == 2
    assert page.text_content("[data-page-now]") == "2"
    page.clock.run_for(10_000)
    _settle(page, lambda: len(collect.reports) == 2)
    assert collect.reports[1]["page"] == 2


def test_hiding_the_tab_reports_at_once_and_stops_the_clock(viewer_page):
    page, collect = viewer_page()
    page.clock.run_for(3_000)
    page.evaluate(
        """() => {
          Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    _settle(page, lambda: len(collect.reports) == 1)
    assert 2_500 <= collect.reports[0]["ms"] <= 3_100
    page.clock.run_for(30_000)
    page.evaluate("() => 0")
    assert len(collect.reports) == 1  # hidden: nothing accrues, no heartbeat


def test_failed_posts_are_retried_with_backoff_and_the_same_keys(viewer_page):
    page, collect = viewer_page(statuses=[503, 429, 202])
    page.clock.run_for(10_000)
    # Until the viewer has read the answer (a failure counted is a retry scheduled): the
    # clock moved before that would start the backoff late, from a later fake time.
    _settle(page, lambda: len(collect.bodies) == 1 and _failures(page) == 1)
    page.clock.run_for(1_900)
    page.evaluate("() => 0")
    assert len(collect.bodies) == 1  # the first retry waits 2 s
    page.clock.run_for(200)
    _settle(page, lambda: len(collect.bodies) == 2 and _failures(page) == 2)
    page.clock.run_for(3_800)
    page.evaluate("() => 0")
    assert len(collect.bodies) == 2  # the second waits 4 s
    page.clock.run_for(300)
    _settle(page, lambda: len(collect.bodies) == 3)
    keys = [[r["k"] for r in body["reports"]] for body in collect.bodies]
    assert keys[0] == keys[1] == keys[2][: len(keys[0])]  # the same reports, same keys
    _settle(page, lambda: _snapshot(page)["queued"] == 0)
    assert _snapshot(page)["stats"]["accepted"] >= 1


def test_network_errors_are_retried_and_4xx_dropped(viewer_page):
    page, collect = viewer_page()
    failures = {"left": 1}

    def flaky(route):
        if failures["left"]:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route("**/t/r", flaky)  # registered last: runs first
    page.clock.run_for(10_000)
    _settle(page, lambda: _snapshot(page)["stats"]["failures"] == 1)
    assert collect.bodies == []
    page.clock.run_for(2_100)
    _settle(page, lambda: len(collect.bodies) == 1)
    # The route handler sees the body before the script sees the answer: wait for the answer.
    _settle(page, lambda: _snapshot(page)["queued"] == 0)

    collect.statuses = [422]  # a report the server will never take: dropped, not retried
    page.clock.run_for(10_000)
    _settle(page, lambda: len(collect.bodies) == 2)
    _settle(page, lambda: _snapshot(page)["queued"] == 0)
    dropped = {r["k"] for r in collect.bodies[1]["reports"]}
    page.clock.run_for(10_000)  # the next heartbeat carries only its own report
    _settle(page, lambda: len(collect.bodies) == 3)
    assert not dropped & {r["k"] for r in collect.bodies[2]["reports"]}
    assert not _snapshot(page)["stopped"]


def test_a_gone_session_stops_reporting(viewer_page):
    page, collect = viewer_page(statuses=[410])
    page.clock.run_for(10_000)
    _settle(page, lambda: _snapshot(page)["stopped"])
    page.clock.run_for(60_000)
    page.mouse.move(100, 100)
    page.clock.run_for(30_000)
    page.evaluate("() => 0")
    assert len(collect.bodies) == 1
