"""What counts as an open (issue 11, items 1 and 2), without a browser.

- a scripted GET of /d/<token> with a browser User-Agent (no JavaScript runs) and a HEAD: no
  open, no points, no notification, no webhook; the GET is one preview, the HEAD nothing;
- the viewer's confirmation (POST /t/o, what the script sends once a page is visible) is the
  open: points, the first-open notification, opens = 1, previews = 0;
- a signed-in staff member (any role) or an API token viewing the link: an internal view, no
  points, no notification, no session (so no read time), shown to the rep as such.
(The same in real headless Chromium: test_open_signals_browser.py.)
"""

from __future__ import annotations

import customer_side_support as support
import pytest
from customer_side_support import path_of, visible_text
from sqlalchemy import func, select

from portal import jobs
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tracking.models import Event, EventType, ViewSession
from tests.viewer_support import confirm, ingest_token_of, open_in_viewer

client = support.client
shop = support.shop

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def _count(type_: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.type == type_))


def _points(customer: Customer) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
            ScoreEntry.customer_id == customer.id
        )
    )


def _notifications() -> int:
    return db.session.scalar(select(func.count()).select_from(Notification))


def _detail(client, api_headers, user, delivery_id: int) -> dict:
    response = client.get(f"/api/v1/deliveries/{delivery_id}", headers=api_headers(user))
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def quote(shop):
    """A quote (doc_opened +5 and pricing_viewed +20 when opened) sent to a senior buyer, with
    the default scoring rules installed (migration 0003 seeds them; tests empty the tables)."""
    rules.install_defaults()
    jobs.commit()
    return shop.send(shop.template("MES 报价单", kind="quote"))


def test_a_scripted_get_and_a_head_are_a_preview_not_an_open(
    client, shop, quote, api_headers, login
):
    path = path_of(quote.url)
    fetched = client.get(path, headers={"User-Agent": CHROME, **ZH})
    assert fetched.status_code == 200
    assert client.head(path, headers={"User-Agent": CHROME}).status_code == 200

    assert _count(EventType.LINK_OPENED) == 0
    assert _count(EventType.LINK_FETCHED) == 1  # the GET; the HEAD records nothing
    assert _points(shop.customer) == 0
    assert _notifications() == 0
    detail = _detail(client, api_headers, shop.rep, quote.delivery.id)
    assert (detail["opens"], detail["previews"], detail["internal_views"]) == (0, 1, 0)
    assert detail["first_opened_at"] is None

    # A fetched page cannot report read time before the open is confirmed.
    token = ingest_token_of(fetched.get_data(as_text=True))
    report = {"k": "r1", "type": "page.viewed", "page": 1, "ms": 5_000}
    refused = client.post("/t/r", json={"s": token, "reports": [report]})
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "not_confirmed"

    # The rep sees the preview, labelled, in both languages.
    login(shop.rep)
    page = client.get(f"/customers/{shop.customer.id}", headers=ZH)
    text = visible_text(page)
    assert "预览/扫描" in text
    english = visible_text(client.get(f"/customers/{shop.customer.id}", headers=EN))
    assert "Preview/scan" in english


def test_the_viewers_confirmation_is_the_open(client, shop, quote, api_headers):
    page = client.get(path_of(quote.url), headers={"User-Agent": CHROME})
    assert confirm(client, page.get_data(as_text=True)).json == {"opened": True}
    assert confirm(client, page.get_data(as_text=True)).json == {"opened": False}

    assert _count(EventType.LINK_OPENED) == 1
    entries = dict(
        db.session.execute(
            select(ScoreEntry.rule_key, ScoreEntry.points).where(
                ScoreEntry.customer_id == shop.customer.id
            )
        ).all()
    )
    assert entries["doc_opened"] == 5 and entries["pricing_viewed"] == 20
    assert _notifications() == 1
    detail = _detail(client, api_headers, shop.rep, quote.delivery.id)
    assert (detail["opens"], detail["previews"], detail["internal_views"]) == (1, 0, 0)
    assert detail["first_opened_at"] is not None


def test_a_confirmation_needs_a_genuine_live_token(client, shop, quote):
    assert client.post("/t/o", json={"s": "forged"}).status_code == 404
    assert client.post("/t/o", json={"x": 1}).status_code == 400
    assert client.post("/t/o", data=b"not json").status_code == 400
    page = client.get(path_of(quote.url), headers={"User-Agent": CHROME})
    html = page.get_data(as_text=True)
    bad_device = client.post("/t/o", json={"s": ingest_token_of(html), "d": "no spaces!"})
    assert bad_device.status_code == 422
    db.session.get(Delivery, quote.delivery.id).revoked_at = utcnow()
    db.session.commit()
    assert confirm(client, html).status_code == 410
    assert _count(EventType.LINK_OPENED) == 0


@pytest.mark.parametrize("role", ["rep", "marketing", "admin"])
def test_a_signed_in_staff_member_is_an_internal_view(client, shop, quote, make_user, login, role):
    staff = shop.rep if role == "rep" else make_user(role)
    login(staff)  # (the same User-Agent as the sign-in: strong session protection)
    page = client.get(path_of(quote.url))
    assert page.status_code == 200
    assert ingest_token_of(page.get_data(as_text=True)) is None  # no session, no read time
    assert "/static/js/viewer.js" not in page.get_data(as_text=True)

    [internal] = db.session.scalars(select(Event).where(Event.type == EventType.INTERNAL_VIEWED))
    assert internal.properties["staff_id"] == staff.id
    assert _count(EventType.LINK_OPENED) == _count(EventType.LINK_FETCHED) == 0
    assert db.session.scalars(select(ViewSession)).all() == []
    assert _points(shop.customer) == 0  # not even senior_title (+15): nothing was scored
    assert _notifications() == 0


def test_an_api_token_is_an_internal_view(client, shop, quote, api_headers, login):
    headers = api_headers(shop.rep)
    assert client.get(path_of(quote.url), headers={**headers, "User-Agent": CHROME}).status_code
    assert _count(EventType.INTERNAL_VIEWED) == 1
    assert _count(EventType.LINK_FETCHED) == 0
    assert _points(shop.customer) == 0
    detail = _detail(client, api_headers, shop.rep, quote.delivery.id)
    assert (detail["opens"], detail["previews"], detail["internal_views"]) == (0, 0, 1)
    assert detail["read_seconds"] == 0 and detail["pages"] == {}

    # On the rep's page and timeline, with a human label in both languages.
    login(shop.rep)
    text = visible_text(client.get(f"/customers/{shop.customer.id}", headers=ZH))
    assert "内部查看" in text and "internal.viewed" not in text
    english = visible_text(client.get(f"/customers/{shop.customer.id}", headers=EN))
    assert "Internal view" in english


def test_a_download_counts_only_for_a_reader_without_staff_credentials(
    client, shop, quote, api_headers, login
):
    """The download route skips Flask-Login when no cookie or header could sign anyone in
    (portal.routes.customer._staff_id): staff with a session, a remember cookie or an API token
    are still staff."""
    download = f"{path_of(quote.url)}/download"
    assert client.get(download, headers=api_headers(shop.rep)).status_code == 200
    assert _count(EventType.DOC_DOWNLOADED) == 0
    login(shop.rep)
    assert client.get(download).status_code == 200
    assert _count(EventType.DOC_DOWNLOADED) == 0
    assert client.post("/logout").status_code == 302
    client.delete_cookie("session", domain="portal.test")
    assert client.get(download, headers={"User-Agent": CHROME}).status_code == 200
    assert _count(EventType.DOC_DOWNLOADED) == 1


def test_a_confirmed_open_is_not_listed_as_a_preview(client, shop, quote, api_headers):
    open_in_viewer(client, path_of(quote.url), headers={"User-Agent": CHROME})
    items = client.get(
        f"/api/v1/customers/{shop.customer.id}/timeline", headers=api_headers(shop.rep)
    ).json["items"]
    types = [item["type"] for item in items]
    assert "link.opened" in types and "link.fetched" not in types


def test_a_preview_or_a_staff_view_is_not_the_customers_last_activity(
    client, shop, quote, api_headers
):
    """The customer list and the account page order and date customers by what they did: the
    rep checking their own link, or a link preview, must not make a customer look active."""
    from portal.read_models import accounts, overview

    def last_activity():
        [row] = [r for r in overview.list_customers(shop.rep) if r.customer.id == shop.customer.id]
        account = accounts.account_page(shop.rep, shop.customer.account_id)
        return row.last_activity_at, account.engagement.last_activity_at

    client.get(path_of(quote.url), headers={"User-Agent": CHROME})  # a preview
    client.get(path_of(quote.url), headers=api_headers(shop.rep))  # an internal view
    assert last_activity() == (None, None)

    open_in_viewer(client, path_of(quote.url), headers={"User-Agent": CHROME})
    [opened] = db.session.scalars(select(Event).where(Event.type == EventType.LINK_OPENED))
    assert last_activity() == (opened.occurred_at, opened.occurred_at)
