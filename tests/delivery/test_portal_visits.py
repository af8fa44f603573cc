"""A portal visit (/p/<token>) counts only when the page's script confirms it (issue 11, the gap
left by item 1): `portal.visited` feeds return_visit and frequent_interaction, so a link preview
of the portal link must not earn it. The GET is a preview (`link.fetched`), staff's an internal
view, and the confirmation (POST /t/p) records the visit once per page load."""

from __future__ import annotations

import customer_side_support as support
from customer_side_support import path_of, visible_text
from sqlalchemy import func, select

from portal.extensions import db
from portal.tracking.models import Event, EventType
from tests.viewer_support import VISIT_URL, visit_token_of

client = support.client
shop = support.shop

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _count(type_: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.type == type_))


def test_a_fetch_of_the_portal_is_a_preview_until_the_page_confirms(client, shop):
    sent = shop.send(shop.template())
    path = path_of(sent.portal_url)
    page = client.get(path, headers={"User-Agent": CHROME})
    assert client.head(path, headers={"User-Agent": CHROME}).status_code == 200
    assert _count(EventType.PORTAL_VISITED) == 0
    assert _count(EventType.LINK_FETCHED) == 1
    token = visit_token_of(page.get_data(as_text=True))
    assert token

    assert client.post(VISIT_URL, json={"s": token}).json == {"visited": True}
    assert client.post(VISIT_URL, json={"s": token}).json == {"visited": False}  # once per load
    [visit] = db.session.scalars(select(Event).where(Event.type == EventType.PORTAL_VISITED))
    assert visit.customer_id == shop.customer.id

    assert client.post(VISIT_URL, json={"s": "forged"}).status_code == 404
    assert client.post(VISIT_URL, json={"x": 1}).status_code == 400


def test_staff_on_the_portal_is_an_internal_view(client, shop, login):
    sent = shop.send(shop.template())
    login(shop.rep)  # (the same User-Agent as the sign-in: strong session protection)
    page = client.get(path_of(sent.portal_url))
    assert page.status_code == 200
    assert visit_token_of(page.get_data(as_text=True)) is None
    assert _count(EventType.INTERNAL_VIEWED) == 1
    assert _count(EventType.LINK_FETCHED) == 0
    assert _count(EventType.PORTAL_VISITED) == 0

    # The rep sees both kinds on the customer page, labelled.
    text = visible_text(
        client.get(f"/customers/{shop.customer.id}", headers={"Accept-Language": "zh-CN"})
    )
    assert "内部查看" in text
