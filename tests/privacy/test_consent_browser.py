"""Consent mode in real headless Chromium (issue 18): a reader who declines is not recorded (no
confirmed session, no device, no points); one who accepts is recorded as in notice mode."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking.models import ViewSession
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    fresh,
    live_server_fixture,
    port_fixture,
    served_config,
)
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.privacy.person import path_of
from tests.support import wait_until

pytestmark = pytest.mark.browser
WAIT = 20.0


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return {**served_config(app_config, port), "TRACKING_MODE": "consent"}


def _points(customer_id: int) -> int:
    return fresh(
        lambda: db.session.scalar(
            select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
                ScoreEntry.customer_id == customer_id
            )
        )
    )


def _sessions(delivery_id: int) -> list[tuple]:
    return fresh(
        lambda: db.session.execute(
            select(ViewSession.confirmed_at, ViewSession.user_agent, ViewSession.ip_hash).where(
                ViewSession.delivery_id == delivery_id
            )
        ).all()
    )


def test_declining_records_nothing_and_accepting_records(live_server, make_user, chromium):
    rules.install_defaults()
    jobs.commit()
    rep, marketing = make_user("rep"), make_user("marketing")
    template = make_template(marketing)
    declines = make_customer(rep, name="王芳", email="wang@example.com")
    accepts = make_customer(rep, name="赵强", email="zhao@example.com")
    declined = make_delivery(rep, declines, template)
    accepted = make_delivery(rep, accepts, template)
    ids = (declines.id, declined.delivery.id, accepts.id, accepted.delivery.id)
    urls = (live_server + path_of(declined.url), live_server + path_of(accepted.url))
    db.session.rollback()
    no_customer, no_delivery, yes_customer, yes_delivery = ids

    first = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = first.new_page()
    page.goto(urls[0], wait_until="load")
    assert page.is_visible("[data-consent-ask]")
    assert "我们会记录" in page.inner_text("footer")
    page.click("[data-consent-decline]")
    assert page.evaluate("() => window.PortalViewer.snapshot().consent") == "no"

    second = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    reader = second.new_page()
    reader.goto(urls[1], wait_until="load")
    reader.click("[data-consent-accept]")
    reader.wait_for_function("() => window.PortalViewer.snapshot().confirmed")
    wait_until(lambda: _points(yes_customer) > 0, WAIT, "the accepting reader's points")
    [(confirmed_at, agent, hashed)] = _sessions(yes_delivery)
    assert confirmed_at is not None and "Chrome" in agent and hashed

    # The declining reader's page has been open all this time: nothing was confirmed.
    page.mouse.move(100, 200)
    assert page.evaluate("() => window.PortalViewer.snapshot().confirmed") is False
    assert _points(no_customer) == 0
    [(confirmed_at, agent, hashed)] = _sessions(no_delivery)  # one anonymous, unscored fetch
    assert (confirmed_at, agent, hashed) == (None, "", "")

    # The choice is kept per device: a reload does not ask again and records nothing.
    page.reload(wait_until="load")
    assert not page.is_visible("[data-consent-ask]")
    assert page.evaluate("() => window.PortalViewer.snapshot().consent") == "no"
    first.close()
    second.close()
