"""Devices and forwarded readers in real headless Chromium (issue 11, item 3 acceptance).

One browser for the module's one test, one context per person (each its own cookie jar, so
its own device cookie):
- the customer reads the link: their device is the recipient's (forwarded: false);
- a colleague opens the same link in another context (WeChat on a phone, 390 px): the optional
  "您是？" card shows above the document; they skip it and read: a visitor with forwarded: true,
  the customer's score unchanged, the rep notified once (a second visit notifies no more);
- another colleague (1366 px) answers the card: a contact of the same account with their own
  score, on the account page (/accounts/<id>) and in GET /api/v1/accounts/<id>;
- the rep's customer page lists the forwarded readers with their devices.
Screenshots of the card and of the rep's view at 390 and 1366 px go to $PORTAL_SCREENSHOT_DIR.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import customer_side_support as support
import pytest
from customer_side_support import path_of
from sqlalchemy import func, select

from portal import jobs
from portal.accounts.services import issue_api_token
from portal.customers.models import Customer
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tracking.models import Visitor
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    fresh,
    horizontal_overflow,
    live_server_fixture,
    port_fixture,
    screenshot,
    served_config,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
WAIT = 20.0

shop = support.shop


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _ledger(customer_id: int) -> list[tuple]:
    return fresh(
        lambda: sorted(
            db.session.execute(
                select(ScoreEntry.rule_key, ScoreEntry.points, ScoreEntry.event_id).where(
                    ScoreEntry.customer_id == customer_id
                )
            ).all()
        )
    )


def _forward_notes() -> int:
    return fresh(
        lambda: db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "delivery.forwarded")
        )
    )


def _api(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _confirmed(page) -> None:
    page.wait_for_function(
        "() => window.PortalViewer && window.PortalViewer.snapshot().confirmed",
        timeout=WAIT * 1000,
    )


@pytest.mark.long(seconds=8)
def test_a_forwarded_reader_in_another_browser(live_server, shop, chromium):
    rules.install_defaults()
    jobs.commit()
    sent = shop.send(shop.template("MES 报价单", kind="quote"), ask_visitor="optional")
    delivery_id, customer_id = sent.delivery.id, shop.customer.id
    account_id = shop.customer.account_id
    token = issue_api_token(shop.rep, name="browser test")
    db.session.commit()
    url = live_server + path_of(sent.url)
    db.session.rollback()

    # 1. The customer reads: no card, their own device.
    customer = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = customer.new_page()
    page.goto(url, wait_until="load")
    assert page.locator("[data-visitor-card]").count() == 0
    _confirmed(page)
    page.wait_for_timeout(1500)
    customer.close()
    ledger = _ledger(customer_id)
    assert {"doc_opened", "pricing_viewed"} <= {key for key, _p, _e in ledger}

    # 2. A colleague in WeChat on a phone: the card, skipped; then reading.
    colleague = chromium.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", user_agent=WECHAT_IPHONE
    )
    phone = colleague.new_page()
    phone.goto(url, wait_until="load")
    card = phone.locator("[data-visitor-card]")
    assert card.is_visible() and "您是？" in card.inner_text()
    assert horizontal_overflow(phone) <= 0, f"horizontal scroll at {390} px"
    screenshot(phone, "visitor-card-390.png")
    phone.click("[data-visitor-skip]")
    assert not card.is_visible()
    _confirmed(phone)
    phone.wait_for_timeout(3000)
    phone.reload(wait_until="load")  # the same device again: the same visitor
    _confirmed(phone)
    colleague.close()

    detail = _api(f"{live_server}/api/v1/deliveries/{delivery_id}", token)
    forwarded = [v for v in detail["visitors"] if v["forwarded"]]
    own = [v for v in detail["visitors"] if not v["forwarded"]]
    assert len(own) == 1 and len(forwarded) == 1
    assert forwarded[0]["identified_as"] is None
    assert forwarded[0]["device"]["wechat"] is True
    assert forwarded[0]["device"]["kind"] == "phone"
    assert detail["opens"] == 1
    assert _ledger(customer_id) == ledger  # the customer's score unchanged
    assert wait_until(lambda: _forward_notes() == 1, WAIT, "one forwarding notification")

    # 3. Another colleague answers the card (desktop width).
    second = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    desk = second.new_page()
    desk.goto(url, wait_until="load")
    assert horizontal_overflow(desk) <= 0, f"horizontal scroll at {1366} px"
    screenshot(desk, "visitor-card-1366.png")
    desk.fill("[data-visitor-card] input[name=name]", "陈静")
    desk.fill("[data-visitor-card] input[name=title]", "财务经理")
    desk.fill("[data-visitor-card] input[name=contact]", "chen@example.com")
    with desk.expect_navigation():
        desk.click("[data-visitor-card] button[type=submit]")
    assert desk.locator("[data-visitor-card]").count() == 0
    _confirmed(desk)
    second.close()

    contact = fresh(lambda: db.session.scalar(select(Customer).where(Customer.name == "陈静")))
    assert contact is not None and contact.account_id == account_id
    assert {"doc_opened", "pricing_viewed"} <= {key for key, _p, _e in _ledger(contact.id)}
    assert _ledger(customer_id) == ledger
    assert _forward_notes() == 2  # once per visitor
    assert fresh(lambda: db.session.scalar(select(func.count()).select_from(Visitor))) == 3
    account = _api(f"{live_server}/api/v1/accounts/{account_id}", token)
    assert "陈静" in {c["name"] for c in account["contacts"]}

    # 4. The rep's view: forwarded readers on the customer page, the contact on the account's.
    rep = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    staff = rep.new_page()
    staff.goto(f"{live_server}/login", wait_until="load")
    staff.fill("input[name=email]", shop.rep.email)
    staff.fill("input[name=password]", "password123")
    with staff.expect_navigation():
        staff.press("input[name=password]", "Enter")
    for width, height in ((390, 844), (1366, 900)):
        staff.set_viewport_size({"width": width, "height": height})
        staff.goto(f"{live_server}/customers/{customer_id}#d{delivery_id}", wait_until="load")
        section = staff.locator(f"#visitors-{delivery_id}")
        text = section.inner_text()
        assert "转发阅读者" in text and "陈静" in text and "微信内" in text, text
        section.scroll_into_view_if_needed()
        assert horizontal_overflow(staff) <= 0, f"horizontal scroll at {width} px"
        if os.environ.get("PORTAL_SCREENSHOT_DIR"):
            section.screenshot(
                path=str(Path(os.environ["PORTAL_SCREENSHOT_DIR"]) / f"visitors-{width}.png")
            )
    staff.goto(f"{live_server}/accounts/{account_id}", wait_until="load")
    assert "陈静" in staff.inner_text("main")
    rep.close()
