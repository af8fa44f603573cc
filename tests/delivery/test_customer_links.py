"""Customer URLs answer only to their own live token: unknown or tampered → 404, expired or
revoked → 410, a friendly page in the reader's language either way, and one customer's token
never reaches another customer's data."""

from __future__ import annotations

import re
from datetime import timedelta

import customer_side_support as support
import pytest
from customer_side_support import LINK_HTML, token_of, visible_text
from sqlalchemy import func, select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.delivery.document_links import sign_target
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.statement_count import counted_statements
from portal.tracking import links
from portal.tracking.models import Event, EventType, Link, LinkPurpose

GONE_ZH = "此链接已失效"
NOT_FOUND_ZH = "找不到这个链接"

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop


def _delivery_of(token: str) -> int:
    """The delivery a doc token names (for the u= its page would carry); 1 for a bad token."""
    link = db.session.get(Link, links.unsign(token, LinkPurpose.DOC.value) or -1)
    return link.delivery_id if link is not None and link.delivery_id else 1


def doc_urls(token: str) -> dict[str, str]:
    go = f"/d/{token}/go?u={sign_target('https://example.com/pricing', _delivery_of(token))}&p=1"
    return {
        "viewer": f"/d/{token}",
        "page": f"/d/{token}/pages/1.png",
        "download": f"/d/{token}/download",
        "redirect": go,
        "qr": f"/d/{token}/qr.svg",
    }


def get_all(client, token: str) -> dict[str, int]:
    return {name: client.get(url).status_code for name, url in doc_urls(token).items()}


def comment_status(client, portal_token: str, delivery_id: int, text: str = "请问价格？") -> int:
    response = client.post(
        f"/p/{portal_token}/comments", data={"delivery_id": delivery_id, "text": text}
    )
    return response.status_code


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def sent(shop):
    return shop.send(shop.template(html=LINK_HTML, content_tags="1:pricing"))


@pytest.fixture
def doc_token(sent) -> str:
    return token_of(sent.url)


@pytest.fixture
def portal_token(sent) -> str:
    return token_of(sent.portal_url)


def _tamper(token: str) -> str:
    """Change one character inside the signature (not the last: its low bits are padding)."""
    char = token[-5]
    return token[:-5] + ("A" if char != "A" else "B") + token[-4:]


def test_a_good_token_opens_every_customer_url(client, doc_token, portal_token, sent):
    assert get_all(client, doc_token) == {
        "viewer": 200,
        "page": 200,
        "download": 200,
        "redirect": 302,
        "qr": 200,
    }
    assert client.get(f"/p/{portal_token}").status_code == 200
    assert comment_status(client, portal_token, sent.delivery.id) == 302


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda t: _tamper(t), id="tampered-signature"),
        pytest.param(lambda t: "x" + t, id="tampered-payload"),
        pytest.param(lambda t: links.sign(987654, LinkPurpose.DOC.value), id="unknown-link"),
        pytest.param(lambda t: "not-a-token", id="garbage"),
        pytest.param(lambda t: links.sign("1", LinkPurpose.DOC.value), id="not-an-id"),
    ],
)
def test_unknown_or_tampered_doc_tokens_are_404_everywhere(client, doc_token, make_token):
    assert set(get_all(client, make_token(doc_token)).values()) == {404}
    assert count(Event) == 0


def test_a_portal_token_is_not_a_doc_token_and_back(client, doc_token, portal_token, sent):
    assert set(get_all(client, portal_token).values()) == {404}
    assert client.get(f"/p/{doc_token}").status_code == 404
    assert comment_status(client, doc_token, sent.delivery.id) == 404
    assert count(Comment) == 0
    assert count(Event) == 0


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(_tamper, id="tampered"),
        pytest.param(lambda t: links.sign(987654, LinkPurpose.PORTAL.value), id="unknown"),
    ],
)
def test_unknown_or_tampered_portal_tokens_are_404(client, portal_token, sent, make_token):
    bad = make_token(portal_token)
    assert client.get(f"/p/{bad}").status_code == 404
    assert comment_status(client, bad, sent.delivery.id) == 404
    assert count(Comment) == 0


def test_revoking_answers_410_from_the_next_request_on(client, shop, sent, doc_token):
    assert client.get(f"/d/{doc_token}").status_code == 200
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    events_before = count(Event)
    assert set(get_all(client, doc_token).values()) == {410}
    assert count(Event) == events_before  # nothing is recorded for a gone link


def test_an_expired_link_row_is_410(client, sent, doc_token):
    link = delivery_services.doc_link_of(sent.delivery)
    link.expires_at = utcnow() - timedelta(minutes=1)
    jobs.commit()
    assert set(get_all(client, doc_token).values()) == {410}


def test_an_expired_delivery_is_410_even_if_its_link_row_is_not(client, sent, doc_token):
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert delivery_services.doc_link_of(delivery).expires_at is None
    assert set(get_all(client, doc_token).values()) == {410}


def test_a_revoked_delivery_is_410_even_if_its_link_row_is_not(client, sent, doc_token):
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.revoked_at = utcnow()
    jobs.commit()
    assert set(get_all(client, doc_token).values()) == {410}


def test_comments_on_a_revoked_or_expired_delivery_are_refused(client, shop, sent, portal_token):
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    assert comment_status(client, portal_token, sent.delivery.id) == 410
    assert count(Comment) == 0


def test_an_expired_or_revoked_portal_link_is_410(client, sent, portal_token):
    link = db.session.scalar(select(Link).where(Link.purpose == LinkPurpose.PORTAL.value))
    link.expires_at = utcnow() - timedelta(minutes=1)
    jobs.commit()
    assert client.get(f"/p/{portal_token}").status_code == 410
    assert comment_status(client, portal_token, sent.delivery.id) == 410
    link.expires_at = None
    link.revoked_at = utcnow()
    jobs.commit()
    assert client.get(f"/p/{portal_token}").status_code == 410
    assert count(Comment) == 0


def test_a_portal_token_cannot_comment_on_another_customers_delivery(client, shop, portal_token):
    other = shop.other_customer()
    theirs = shop.send(shop.template("别人的报价", kind="quote"), customer=other)
    assert comment_status(client, portal_token, theirs.delivery.id) == 404
    assert comment_status(client, portal_token, 987654) == 404
    # Their own portal token works for their own delivery.
    assert comment_status(client, token_of(theirs.portal_url), theirs.delivery.id) == 302
    assert count(Comment, Comment.customer_id == shop.customer.id) == 0
    assert count(Event, Event.type == EventType.COMMENT_CREATED) == 1


def test_a_doc_token_only_ever_reaches_its_own_delivery(client, shop, doc_token, sent):
    other = shop.other_customer()
    theirs = shop.send(shop.template("别人的报价", kind="quote"), customer=other)
    page = client.get(f"/d/{doc_token}").get_data(as_text=True)
    assert "智能工厂产品手册" in page
    assert "别人的报价" not in page
    # The viewer links back to the own customer's portal, never to the other one's: through a
    # portal link derived from this doc link (it ends with it: tests/security/test_link_grants).
    portal_tokens = set(re.findall(r'href="/p/([^"/]+)"', page))
    assert portal_tokens
    ids = {links.unsign(t, LinkPurpose.PORTAL.value) for t in portal_tokens}
    assert len(ids) == 1
    shown = db.session.get(Link, ids.pop())
    assert shown.customer_id == shop.customer.id != theirs.delivery.customer_id
    assert shown.parent_id == links.unsign(doc_token, LinkPurpose.DOC.value)
    own_portal = client.get(f"/p/{token_of(sent.portal_url)}").get_data(as_text=True)
    assert "别人的报价" not in own_portal


def test_the_comment_form_needs_a_delivery_id(client, portal_token):
    response = client.post(f"/p/{portal_token}/comments", data={"text": "你好"})
    assert response.status_code == 404
    response = client.post(
        f"/p/{portal_token}/comments", data={"delivery_id": "abc", "text": "你好"}
    )
    assert response.status_code == 404


def test_error_pages_are_friendly_and_in_the_browsers_language(client, shop, sent, doc_token):
    zh = client.get("/d/nonsense", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 404
    assert NOT_FOUND_ZH in visible_text(zh)
    assert 'lang="zh-CN"' in zh.get_data(as_text=True)
    en = client.get("/d/nonsense", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "We cannot find this link" in visible_text(en)
    assert '<html lang="en">' in en.get_data(as_text=True)

    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    gone = client.get(f"/d/{doc_token}", headers={"Accept-Language": "zh-CN"})
    assert gone.status_code == 410
    text = visible_text(gone)
    assert GONE_ZH in text
    # The customer layout, not the staff one; nothing about the delivery or the sender.
    html = gone.get_data(as_text=True)
    assert "customer.css" in html
    assert "portal.css" not in html
    assert "智能工厂产品手册" not in text
    assert shop.rep.name not in text
    assert gone.headers["Cache-Control"] == "no-store"
    assert gone.headers["Referrer-Policy"] == "no-referrer"


def test_unknown_and_gone_tokens_do_the_same_work(client, shop, sent, doc_token):
    unknown = links.sign(987654, LinkPurpose.DOC.value)
    with counted_statements() as for_unknown:
        assert client.get(f"/d/{unknown}").status_code == 404
    with counted_statements() as for_tampered:
        assert client.get(f"/d/{_tamper(doc_token)}").status_code == 404
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    with counted_statements() as for_gone:
        assert client.get(f"/d/{doc_token}").status_code == 410
    assert len(for_unknown) == len(for_tampered) == len(for_gone)


def test_an_unexpected_error_is_a_friendly_customer_page(app, client, doc_token, monkeypatch):
    from portal.delivery import viewer

    def broken(*args, **kwargs):
        raise RuntimeError("storage exploded at s3://secret-bucket")

    monkeypatch.setattr(viewer, "open_delivery", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get(f"/d/{doc_token}", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 500
    text = visible_text(response)
    assert "出错了" in text
    assert "secret-bucket" not in response.get_data(as_text=True)
    assert "customer.css" in response.get_data(as_text=True)
