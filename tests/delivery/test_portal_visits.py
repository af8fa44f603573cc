"""A portal visit (/p/<token>) counts only when the page's script confirms it (issue 11, the gap
left by item 1): `portal.visited` feeds return_visit and frequent_interaction, so a link preview
of the portal link must not earn it. The GET is a preview (`link.fetched`), staff's an internal
view, and the confirmation (POST /t/p) records the visit once per page load."""

from __future__ import annotations

import customer_side_support as support
import pytest
from customer_side_support import path_of, visible_text
from sqlalchemy import func, select

from portal import jobs
from portal.delivery import visitors
from portal.delivery.models import Delivery
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.engagement.recompute import recompute
from portal.extensions import db
from portal.tracking.models import Event, EventType, Visitor
from tests.viewer_support import VISIT_URL, open_in_viewer, visit_portal, visit_token_of

client = support.client
shop = support.shop

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
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


# -- whose visit: the viewer's device rule -------------------------------------------------------


@pytest.fixture
def device(app):
    """device() -> a new browser: a client with its own cookie jar."""
    app.test_client_class = support.FreshClient
    return app.test_client


def _portal_points(customer_id: int) -> int:
    recompute([customer_id])
    jobs.commit()
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
                ScoreEntry.customer_id == customer_id,
                ScoreEntry.rule_key.in_(("frequent_interaction", "return_visit")),
            )
        )
        or 0
    )


def test_another_device_on_the_portal_is_shown_and_never_scored(client, device, shop):
    """The recipient opened the document on their phone; the link was forwarded and a second
    browser reloads the portal again and again: the customer earns nothing for it."""
    rules.install_defaults()
    sent = shop.send(shop.template())
    open_in_viewer(client, path_of(sent.url), headers={"User-Agent": CHROME})
    visit_portal(client, sent.portal_url, headers={"User-Agent": CHROME})
    assert _count(EventType.PORTAL_VISITED) == 1
    points = _portal_points(shop.customer.id)

    colleague = device()
    for _ in range(6):
        visit_portal(colleague, sent.portal_url, headers={"User-Agent": IPHONE})
    assert _count(EventType.PORTAL_VISITED) == 1
    assert _count(EventType.PORTAL_OTHER_DEVICE) == 6
    other = db.session.scalars(
        select(Event).where(Event.type == EventType.PORTAL_OTHER_DEVICE)
    ).first()
    assert other.customer_id == shop.customer.id  # on the customer's timeline ...
    assert other.properties["device"]["kind"] == "phone"
    assert _portal_points(shop.customer.id) == points  # ... and never scored


def test_the_rep_reads_another_device_s_visit_for_what_it_is(client, device, shop, login):
    sent = shop.send(shop.template())
    open_in_viewer(client, path_of(sent.url), headers={"User-Agent": CHROME})
    visit_portal(client, sent.portal_url, headers={"User-Agent": CHROME})
    visit_portal(device(), sent.portal_url, headers={"User-Agent": IPHONE})
    login(shop.rep)
    for language, label, visited in (
        ("zh-CN", "其他设备访问了专属页面（不计分）", "访问了专属页面"),
        ("en", "Another device visited the portal (not scored)", "Visited their portal page"),
    ):
        text = visible_text(
            client.get(f"/customers/{shop.customer.id}", headers={"Accept-Language": language})
        )
        assert label in text
        assert visited in text.replace(label, "")
        assert ("手机 · iOS" if language == "zh-CN" else "phone · iOS") in text
    # a confirmed page load is a visit, not also a preview/scan
    zh = visible_text(
        client.get(f"/customers/{shop.customer.id}", headers={"Accept-Language": "zh-CN"})
    )
    assert "预览/扫描" not in zh


def test_with_no_document_opened_the_first_device_on_the_portal_is_the_recipient(device, shop):
    """No send has a recipient's device yet (nothing opened, only the portal): the first
    device to visit is the recipient's, and a second one is another device."""
    sent = shop.send(shop.template())
    phone = device()
    visit_portal(phone, sent.portal_url, headers={"User-Agent": IPHONE})
    visit_portal(phone, sent.portal_url, headers={"User-Agent": IPHONE})
    assert _count(EventType.PORTAL_VISITED) == 2
    visit_portal(device(), sent.portal_url, headers={"User-Agent": CHROME})
    assert _count(EventType.PORTAL_VISITED) == 2
    assert _count(EventType.PORTAL_OTHER_DEVICE) == 1
    # the mark is a digest, never the cookie's value
    marks = {
        e.properties["device_mark"]
        for e in db.session.scalars(select(Event).where(Event.type == EventType.PORTAL_VISITED))
    }
    [cookie] = [c.value for c in phone._cookies.values() if c.key == "portal_device"]
    assert len(marks) == 1 and cookie not in marks and len(next(iter(marks))) == 16


def test_an_identified_forwarded_reader_s_visit_counts_for_their_contact(client, device, shop):
    sent = shop.send(shop.template())
    open_in_viewer(client, path_of(sent.url), headers={"User-Agent": CHROME})
    colleague = device()
    open_in_viewer(colleague, path_of(sent.url), headers={"User-Agent": IPHONE})
    visitor = db.session.scalars(select(Visitor).where(Visitor.forwarded.is_(True))).one()
    contact = visitors.identify(
        db.session.get(Delivery, visitor.delivery_id),
        visitor.device_id,
        visitors.VisitorCard(name="王工", title="", contact=""),
    )
    jobs.commit()
    visit_portal(colleague, sent.portal_url, headers={"User-Agent": IPHONE})
    [visit] = db.session.scalars(select(Event).where(Event.type == EventType.PORTAL_VISITED))
    assert visit.customer_id == contact.customer_id != shop.customer.id
    assert visit.visitor_id == visitor.id
    assert visit.properties["portal_of"] == shop.customer.id


def test_a_forwarded_reader_first_on_another_send_still_earns_the_customer_nothing(
    client, device, shop
):
    """The portal lists every send: a forwarded reader may open one the customer has not
    opened yet and be its first device. Forwarded on one send, they are not the customer."""
    first = shop.send(shop.template())
    second = shop.send(shop.template("第二份资料"))
    open_in_viewer(client, path_of(first.url), headers={"User-Agent": CHROME})
    colleague = device()
    open_in_viewer(colleague, path_of(first.url), headers={"User-Agent": IPHONE})  # forwarded
    open_in_viewer(colleague, path_of(second.url), headers={"User-Agent": IPHONE})  # first here
    visit_portal(colleague, first.portal_url, headers={"User-Agent": IPHONE})
    assert _count(EventType.PORTAL_VISITED) == 0
    assert _count(EventType.PORTAL_OTHER_DEVICE) == 1


def test_the_first_portal_device_stays_the_customer_s_when_another_opens_a_document(device, shop):
    sent = shop.send(shop.template())
    phone, laptop = device(), device()
    visit_portal(phone, sent.portal_url, headers={"User-Agent": IPHONE})
    open_in_viewer(laptop, path_of(sent.url), headers={"User-Agent": CHROME})  # the send's first
    visit_portal(phone, sent.portal_url, headers={"User-Agent": IPHONE})
    assert _count(EventType.PORTAL_VISITED) == 2
    assert _count(EventType.PORTAL_OTHER_DEVICE) == 0
