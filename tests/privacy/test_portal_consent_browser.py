"""Consent mode on the customer's portal page, in real headless Chromium (issue 18): the page
asks once per device (the same answer as the viewer's); a reader who declines leaves one
anonymous, unscored count (the page fetch) and no visit, no points; one who accepts has their
visit recorded as in notice mode."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking.models import Event, EventType, ViewSession
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    fresh,
    horizontal_overflow,
    live_server_fixture,
    port_fixture,
    screenshot,
    served_config,
)
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.privacy.person import path_of
from tests.support import wait_until

pytestmark = pytest.mark.browser
WAIT = 20.0
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return {**served_config(app_config, port), "TRACKING_MODE": "consent"}


def _events(customer_id: int) -> list[str]:
    return fresh(
        lambda: sorted(
            db.session.scalars(select(Event.type).where(Event.customer_id == customer_id))
        )
    )


def _points(customer_id: int) -> int:
    return fresh(
        lambda: db.session.scalar(
            select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
                ScoreEntry.customer_id == customer_id
            )
        )
    )


def _confirmed_sessions(customer_id: int) -> int:
    return fresh(
        lambda: db.session.scalar(
            select(func.count()).where(
                ViewSession.customer_id == customer_id, ViewSession.confirmed_at.is_not(None)
            )
        )
    )


def test_the_portal_page_asks_once_and_a_decline_records_no_visit(live_server, make_user, chromium):
    rules.install_defaults()
    jobs.commit()
    rep, marketing = make_user("rep"), make_user("marketing")
    template = make_template(marketing)
    declines = make_customer(rep, name="王芳", email="wang@example.com")
    accepts = make_customer(rep, name="Tom Baker", email="tom@example.com")
    declined = make_delivery(rep, declines, template)
    accepted = make_delivery(rep, accepts, template)
    ids = (declines.id, accepts.id)
    urls = (live_server + path_of(declined.portal_url), live_server + path_of(accepted.portal_url))
    db.session.rollback()
    no_customer, yes_customer = ids
    fetched, visited = EventType.LINK_FETCHED.value, EventType.PORTAL_VISITED.value

    first = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = first.new_page()
    page.goto(urls[0], wait_until="load")
    assert page.is_visible("[data-consent-ask]")
    assert "未经您同意" in page.inner_text("[data-consent-ask]")
    assert horizontal_overflow(page) == 0
    screenshot(page, "portal-consent-390-zh.png")
    page.click("[data-consent-decline]")
    assert not page.is_visible("[data-consent-ask]")
    assert page.evaluate("() => window.PortalVisit.snapshot().consent") == "no"

    second = chromium.new_context(viewport=PHONE, locale="en-US")
    reader = second.new_page()
    reader.goto(urls[1], wait_until="load")
    assert "Nothing is recorded unless you agree" in reader.inner_text("[data-consent-ask]")
    screenshot(reader, "portal-consent-390-en.png")
    reader.set_viewport_size({"width": 1280, "height": 800})
    assert horizontal_overflow(reader) == 0
    screenshot(reader, "portal-consent-1280-en.png")
    # Before an answer, nothing beyond the fetch.
    assert reader.evaluate("() => window.PortalVisit.snapshot().sent") is False
    reader.click("[data-consent-accept]")
    wait_until(lambda: visited in _events(yes_customer), WAIT, "the accepting reader's visit")

    # The declining reader's page has been open all this time: only the fetch is stored (one
    # anonymous, unscored count), no visit and no points.
    page.mouse.move(100, 200)
    assert page.evaluate("() => window.PortalVisit.snapshot().sent") is False
    assert _events(no_customer) == [fetched]
    assert _points(no_customer) == 0

    # Asked once per device: a reload does not ask again and records no visit; nor does the
    # viewer of a document opened from the page (the same answer).
    page.reload(wait_until="load")
    assert not page.is_visible("[data-consent-ask]")
    assert page.evaluate("() => window.PortalVisit.snapshot().consent") == "no"
    page.click(".c-actions a.c-btn-primary")
    page.wait_for_selector("[data-viewer]")
    # the element is there while the page still parses; the viewer's script runs after it
    page.wait_for_function("() => window.PortalViewer !== undefined")
    assert not page.is_visible("[data-consent-ask]")
    assert page.evaluate("() => window.PortalViewer.snapshot().consent") == "no"
    page.mouse.move(120, 300)
    assert page.evaluate("() => window.PortalViewer.snapshot().confirmed") is False
    assert visited not in _events(no_customer)
    assert _confirmed_sessions(no_customer) == 0
    assert _points(no_customer) == 0
    first.close()
    second.close()
