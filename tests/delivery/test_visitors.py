"""Devices and forwarded readers (issue 11, item 3), without a browser: each test client is one
browser (its own cookie jar, so its own device cookie).

- the first device that confirms an open is the recipient's; a second device on the same link
  is a visitor (forwarded): its opens, read time, downloads and clicks are stored under it, the
  customer's score, opens and read time do not move, and the rep is told once;
- `ask_visitor` per send: required hides the document until the "您是？" card is answered, and
  the answer makes the reader a contact of the same account with their own score; optional
  shows the card above the document;
- the rep merges a visitor into an existing contact: the reading and its points move there, and
  `scores recompute` gives the same ledger;
- the device cookie is first-party, HttpOnly, SameSite=Lax and Secure over https.
(The same in real headless Chromium: test_visitors_browser.py.)
"""

from __future__ import annotations

import customer_side_support as support
import pytest
from customer_side_support import path_of, visible_text
from sqlalchemy import func, select

from portal import jobs
from portal.customers.models import Customer
from portal.delivery import visitors
from portal.delivery.models import Delivery
from portal.delivery.visitors import NAME_MAX
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.engagement.recompute import recompute
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tracking.models import Event, EventType, Visitor
from tests.viewer_support import confirm, ingest_token_of, open_in_viewer

client = support.client
shop = support.shop

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def _ledger(customer_id: int) -> list[tuple]:
    return sorted(
        db.session.execute(
            select(ScoreEntry.rule_key, ScoreEntry.points, ScoreEntry.event_id).where(
                ScoreEntry.customer_id == customer_id
            )
        ).all()
    )


def _points(customer_id: int) -> int:
    return sum(points for _key, points, _event in _ledger(customer_id))


def _forward_notes() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == "delivery.forwarded")
    )


def _detail(client, api_headers, user, delivery_id: int) -> dict:
    response = client.get(f"/api/v1/deliveries/{delivery_id}", headers=api_headers(user))
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def device(app):
    """device() -> a new browser: a client with its own cookie jar."""
    app.test_client_class = support.FreshClient
    return app.test_client


@pytest.fixture
def quote(shop):
    rules.install_defaults()
    jobs.commit()
    return shop.send(shop.template("MES 报价单", kind="quote"))


def _read(browser, page_html: str, seconds: int = 30) -> None:
    token = ingest_token_of(page_html)
    report = {"k": "r1", "type": "page.viewed", "page": 1, "ms": seconds * 1000}
    response = browser.post("/t/r", json={"s": token, "reports": [report]})
    assert response.status_code in (200, 202), response.get_data(as_text=True)


def test_a_second_device_is_a_forwarded_visitor_not_the_customer(
    client, device, shop, quote, api_headers
):
    path = path_of(quote.url)
    open_in_viewer(client, path, headers={"User-Agent": CHROME})
    customer_ledger = _ledger(shop.customer.id)
    # the recipient's own open scores, as ever
    assert {"doc_opened", "pricing_viewed"} <= {key for key, _p, _e in customer_ledger}
    assert _forward_notes() == 0

    colleague = device()
    page = colleague.get(path, headers={"User-Agent": WECHAT_IPHONE})
    assert confirm(colleague, page.get_data(as_text=True)).json == {"opened": True}
    _read(colleague, page.get_data(as_text=True))
    download = colleague.get(f"{path}/download", headers={"User-Agent": WECHAT_IPHONE})
    assert download.status_code == 200
    jobs.commit()
    # Again on the same device, and more downloads: one visitor, one notification; these five
    # interactions would have paid the customer frequent_interaction had they been theirs.
    for _ in range(2):
        open_in_viewer(colleague, path, headers={"User-Agent": WECHAT_IPHONE})
        colleague.get(f"{path}/download", headers={"User-Agent": WECHAT_IPHONE})
        jobs.commit()

    assert _ledger(shop.customer.id) == customer_ledger  # the customer's score unchanged
    assert _forward_notes() == 1
    note = db.session.scalar(select(Notification).where(Notification.kind == "delivery.forwarded"))
    assert note.user_id == shop.rep.id
    visitor_events = db.session.scalars(
        select(Event).where(Event.visitor_id.is_not(None), Event.customer_id.is_(None))
    ).all()
    assert {e.type for e in visitor_events} >= {
        EventType.LINK_OPENED,
        EventType.PAGE_VIEWED,
        EventType.DOC_DOWNLOADED,
    }
    assert not db.session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.customer_id == shop.customer.id, Event.type == EventType.DOC_DOWNLOADED)
    )

    detail = _detail(client, api_headers, shop.rep, quote.delivery.id)
    assert detail["opens"] == 1  # the customer's own
    assert detail["read_seconds"] == 0  # the colleague's 30 s are theirs
    own, forwarded = detail["visitors"]
    assert own["forwarded"] is False and forwarded["forwarded"] is True
    assert forwarded["identified_as"] is None
    assert forwarded["device"] == {
        "kind": "phone",
        "os": "iOS",
        "browser": "WeChat Browser",
        "wechat": True,
    }
    assert own["device"]["kind"] == "desktop" and own["device"]["wechat"] is False
    # (its read time is capped by the wall clock, near 0 here: the browser test measures it)
    assert set(forwarded) == {
        "id",
        "device",
        "identified_as",
        "first_seen",
        "read_seconds",
        "forwarded",
    }

    # The rep reads it in their language, with the device, no internal codes.
    from portal.notifications.services import describe

    with support_locale("zh_CN"):
        assert describe(note).startswith("文档被转发")
        assert "微信" in describe(note)
    with support_locale("en"):
        assert describe(note).startswith("Document forwarded")


def support_locale(locale: str):
    from flask_babel import force_locale

    return force_locale(locale)


def test_the_device_cookie_is_first_party_httponly_and_lax(client, quote):
    response = client.get(path_of(quote.url), headers={"User-Agent": CHROME})
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(visitors.DEVICE_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain http here
    secure = client.get(
        path_of(quote.url), headers={"User-Agent": CHROME}, base_url="https://localhost"
    )
    assert all(
        "Secure" in h
        for h in secure.headers.getlist("Set-Cookie")
        if h.startswith(visitors.DEVICE_COOKIE)
    )


def test_required_card_identifies_the_visitor_as_a_contact_of_the_account(
    client, device, shop, api_headers, login
):
    rules.install_defaults()
    jobs.commit()
    template = shop.template("MES 报价单", kind="quote")
    created = client.post(
        "/api/v1/deliveries",
        json={"customer_id": shop.customer.id, "template_id": template.id, "ask_visitor": "x"},
        headers=api_headers(shop.rep),
    )
    assert created.status_code == 422 and created.json["error"]["code"] == "invalid_ask_visitor"
    created = client.post(
        "/api/v1/deliveries",
        json={
            "customer_id": shop.customer.id,
            "template_id": template.id,
            "ask_visitor": "required",
        },
        headers=api_headers(shop.rep),
    )
    assert created.status_code == 201
    jobs.commit()
    db.session.commit()
    path = path_of(created.json["url"])
    recipient = device()
    open_in_viewer(recipient, path, headers={"User-Agent": CHROME, **ZH})  # not asked
    customer_ledger = _ledger(shop.customer.id)

    colleague = device()
    asked = colleague.get(path, headers={"User-Agent": WECHAT_IPHONE, **ZH})
    assert "您是？" in visible_text(asked)
    assert ingest_token_of(asked.get_data(as_text=True)) is None  # no document, no session
    assert "/pages/1.png" not in asked.get_data(as_text=True)
    in_english = colleague.get(path, headers={"User-Agent": WECHAT_IPHONE, **EN})
    assert "Who are you?" in visible_text(in_english)

    answered = colleague.post(
        f"{path}/visitor",
        data={"name": "陈静", "title": "财务经理", "contact": "chen@example.com"},
        headers={"User-Agent": WECHAT_IPHONE},
    )
    assert answered.status_code == 302
    open_in_viewer(colleague, path, headers={"User-Agent": WECHAT_IPHONE})

    contact = db.session.scalar(select(Customer).where(Customer.name == "陈静"))
    assert contact is not None and contact.account_id == shop.customer.account_id
    assert contact.owner_id == shop.rep.id and contact.email == "chen@example.com"
    assert {key for key, _p, _e in _ledger(contact.id)} >= {"doc_opened", "pricing_viewed"}
    assert _ledger(shop.customer.id) == customer_ledger
    ledger = _ledger(contact.id)
    recompute([contact.id, shop.customer.id])
    assert _ledger(contact.id) == ledger and _ledger(shop.customer.id) == customer_ledger

    detail = _detail(client, api_headers, shop.rep, db.session.scalar(select(Visitor.delivery_id)))
    forwarded = [v for v in detail["visitors"] if v["forwarded"]]
    assert forwarded[0]["identified_as"]["name"] == "陈静"
    assert forwarded[0]["identified_as"]["title"] == "财务经理"
    assert forwarded[0]["identified_as"]["contact"] == "chen@example.com"

    account = client.get(
        f"/api/v1/accounts/{shop.customer.account_id}", headers=api_headers(shop.rep)
    )
    assert "陈静" in {c["name"] for c in account.json["contacts"]}
    login(shop.rep)
    assert "陈静" in visible_text(client.get(f"/accounts/{shop.customer.account_id}"))


def test_optional_card_shows_the_document_too(client, device, shop):
    sent = shop.send(shop.template(), ask_visitor="optional")
    path = path_of(sent.url)
    open_in_viewer(client, path, headers={"User-Agent": CHROME})
    assert "您是？" not in visible_text(client.get(path, headers={"User-Agent": CHROME, **ZH}))
    colleague = device()
    page = colleague.get(path, headers={"User-Agent": CHROME, **ZH})
    assert "您是？" in visible_text(page) and "跳过" in visible_text(page)
    assert ingest_token_of(page.get_data(as_text=True))  # the document is shown as well


def test_the_rep_merges_a_visitor_into_a_contact(client, device, shop, quote, login, make_user):
    path = path_of(quote.url)
    open_in_viewer(client, path, headers={"User-Agent": CHROME})
    colleague = device()
    open_in_viewer(colleague, path, headers={"User-Agent": WECHAT_IPHONE})
    other = shop.other_customer()
    assert _points(other.id) == 0
    visitor = db.session.scalar(select(Visitor).where(Visitor.forwarded.is_(True)))

    login(shop.rep)
    merged = client.post(
        f"/customers/{shop.customer.id}/visitors/{visitor.id}/merge",
        data={"contact_id": other.id},
    )
    assert merged.status_code == 302
    db.session.expire_all()
    assert {key for key, _p, _e in _ledger(other.id)} >= {"doc_opened", "pricing_viewed"}
    ledger = _ledger(other.id)
    recompute([other.id])
    assert _ledger(other.id) == ledger

    # Another rep may not touch it.
    stranger = make_user("rep", name="韩梅梅")
    elsewhere = device()
    signed_in = elsewhere.post("/login", data={"email": stranger.email, "password": "password123"})
    assert signed_in.status_code == 302
    refused = elsewhere.post(
        f"/customers/{shop.customer.id}/visitors/{visitor.id}/merge",
        data={"contact_id": other.id},
    )
    assert refused.status_code == 404


def test_a_card_answer_that_is_too_long_says_so(device, shop, quote):
    """The card's refusals are told apart: no name, or an answer past its length."""
    db.session.get(Delivery, quote.delivery.id).ask_visitor = "required"  # as sent so
    db.session.commit()
    path = path_of(quote.url)
    open_in_viewer(device(), path, headers={"User-Agent": CHROME})  # the recipient's device
    colleague = device()
    assert "您是？" in visible_text(
        colleague.get(path, headers={"User-Agent": WECHAT_IPHONE, **ZH})
    )
    answers = {"": "请填写您的姓名。", "张" * (NAME_MAX + 1): "请简短填写每一项。"}
    for name, said in answers.items():
        answer = colleague.post(
            f"{path}/visitor",
            data={"name": name},
            headers={"User-Agent": WECHAT_IPHONE, **ZH},
            follow_redirects=True,
        )
        assert said in visible_text(answer)


def test_two_requests_of_one_new_device_share_one_visitor(app, quote, monkeypatch):
    """The viewer's open confirmation and the "您是？" card of one new device, at once: both
    look, find no Visitor, and insert. The second takes the first's row instead of a 500 that
    loses what the reader typed (seen in a browser test on a busy machine), and what its
    transaction did before is kept (only the insert is undone: a savepoint)."""
    from portal.db_types import utcnow

    delivery = db.session.get(Delivery, quote.delivery.id)
    delivery_id, customer_id = delivery.id, delivery.customer_id
    device_id = "a-new-device-of-the-race"
    jobs.commit()
    # The other request, in a transaction of its own (an app context has its own session),
    # creates the row and commits between this request's look and its insert.
    with app.app_context():
        other = visitors._visitor_or_new(delivery_id, customer_id, device_id, CHROME, utcnow())
        other_id = other.id
        db.session.commit()
    # This request's transaction has work of its own before it looks (an open's bookkeeping).
    opened = utcnow()
    delivery.first_opened_at = opened
    db.session.flush()
    real = visitors._visitor
    looks: list[str] = []

    def only_the_first_look_misses(delivery_id, device):
        looks.append(device)
        return None if len(looks) == 1 else real(delivery_id, device)

    monkeypatch.setattr(visitors, "_visitor", only_the_first_look_misses)
    visitor = visitors._visitor_or_new(delivery_id, customer_id, device_id, CHROME, utcnow())
    assert visitor.id == other_id and len(looks) == 2  # the insert failed; the second look won
    jobs.commit()
    rows = db.session.scalar(
        select(func.count()).select_from(Visitor).where(Visitor.device_id == device_id)
    )
    assert rows == 1
    first_opened = db.session.scalar(
        select(Delivery.first_opened_at).where(Delivery.id == delivery_id)
    )
    assert first_opened == opened
