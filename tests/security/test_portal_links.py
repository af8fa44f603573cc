"""Portal links expire and can be revoked, and a customer page hands out no more than its own
link grants (issue 17, finding 2).

The attacker holds delivery A's link (forwarded, leaked). Before: A's viewer linked to the
customer's one portal link, which never died, so revoking or expiring A left them the portal,
every later document, downloads and comments. Now the viewer's portal link, and the document
links that portal page shows, are derived from A's link and end with it; the customer's own
portal link expires, the rep rotates it, and revoking a delivery "for cause" rotates it too.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal import jobs
from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.tracking import links
from portal.tracking.models import Link, LinkPurpose
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.support import wait_until

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"}


@pytest.fixture(autouse=True)
def _browser(client):
    # Every request from one browser (a staff session is bound to its user agent).
    client.environ_base["HTTP_USER_AGENT"] = BROWSER["User-Agent"]


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def token(url: str) -> str:
    return path(url).split("/")[2]


def portal_token_on_viewer(client, doc_token: str) -> str:
    html = client.get(f"/d/{doc_token}", headers=BROWSER).get_data(as_text=True)
    [found] = set(re.findall(r'href="/p/([^"/?#]+)"', html))
    return found


def doc_tokens_on_portal(client, portal_token: str) -> set[str]:
    response = client.get(f"/p/{portal_token}", headers=BROWSER)
    assert response.status_code == 200
    return set(re.findall(r'href="/d/([^"/?#]+)"', response.get_data(as_text=True)))


def go_url(client, doc_token: str) -> str:
    """A link click inside the document, as the viewer page shows it."""
    html = client.get(f"/d/{doc_token}", headers=BROWSER).get_data(as_text=True)
    hrefs = re.findall(r'<a class="v-link" href="([^"]+)"', html)
    assert hrefs, "the test document has a link"
    return hrefs[0].replace("&amp;", "&")


def doc_statuses(client, doc_token: str, go: str | None = None) -> dict[str, int]:
    urls = {
        "viewer": f"/d/{doc_token}",
        "page": f"/d/{doc_token}/pages/1.png",
        "download": f"/d/{doc_token}/download",
    }
    if go is not None:
        urls["go"] = go
    return {name: client.get(url, headers=BROWSER).status_code for name, url in urls.items()}


def comment(client, portal_token: str, delivery_id: int) -> int:
    return client.post(
        f"/p/{portal_token}/comments",
        data={"delivery_id": delivery_id, "text": "请问价格？"},
        headers=BROWSER,
    ).status_code


def portal_of(sent) -> Link:
    return db.session.get(Link, links.unsign(token(sent.portal_url), LinkPurpose.PORTAL.value))


@pytest.fixture
def two(world):
    """Delivery A (the leaked one) and B (sent to the same customer later)."""
    a = make_delivery(world.rep, world.customer, world.template)
    other = make_template(world.marketing, name="案例集", kind="case_study")
    b = make_delivery(world.rep, world.customer, other)
    return a, b


def _end(delivery_id: int, how: str, rep) -> None:
    if how == "revoked":
        delivery_services.revoke(rep, delivery_id)
    else:
        db.session.get(Delivery, delivery_id).expires_at = utcnow() - timedelta(minutes=1)
    jobs.commit()


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_gone_delivery_s_viewer_leaves_no_working_portal_access(client, world, two, how):
    a, b = two
    held = portal_token_on_viewer(client, token(a.url))  # what A's holder took from its page
    [b_doc] = [
        doc
        for doc in doc_tokens_on_portal(client, held)
        if db.session.get(Link, links.unsign(doc, LinkPurpose.DOC.value)).delivery_id
        == b.delivery.id
    ]  # B, sent to the same customer, as A's holder sees it
    b_go = go_url(client, b_doc)
    assert doc_statuses(client, b_doc, b_go) == {
        "viewer": 200,
        "page": 200,
        "download": 200,
        "go": 302,
    }

    _end(a.delivery.id, how, world.rep)

    assert client.get(f"/p/{held}", headers=BROWSER).status_code == 410
    assert comment(client, held, b.delivery.id) == 410
    assert set(doc_statuses(client, b_doc, b_go).values()) == {410}
    assert db.session.scalars(select(Comment)).all() == []
    # The customer's own links are untouched: B's link and the portal link the rep sent.
    assert doc_statuses(client, token(b.url))["viewer"] == 200
    assert client.get(path(b.portal_url), headers=BROWSER).status_code == 200


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_gone_portal_link_is_410_on_the_portal_its_documents_downloads_and_comments(
    client, world, two, how
):
    a, b = two
    portal = token(a.portal_url)
    docs = doc_tokens_on_portal(client, portal)
    assert len(docs) == 2
    go = {doc: go_url(client, doc) for doc in docs}
    for doc in docs:
        assert set(doc_statuses(client, doc, go[doc]).values()) <= {200, 302}

    link = portal_of(a)
    if how == "revoked":
        link.revoked_at = utcnow()
    else:
        link.expires_at = utcnow() - timedelta(minutes=1)
    jobs.commit()

    assert client.get(f"/p/{portal}", headers=BROWSER).status_code == 410
    assert comment(client, portal, a.delivery.id) == 410
    for doc in docs:
        assert set(doc_statuses(client, doc, go[doc]).values()) == {410}, doc
    assert db.session.scalars(select(Comment)).all() == []
    # The links the rep sent for each document still open.
    assert doc_statuses(client, token(a.url))["viewer"] == 200
    assert doc_statuses(client, token(b.url))["viewer"] == 200


def test_new_portal_links_expire_and_a_send_extends_the_one_in_use(app, world):
    days = app.config["PORTAL_LINK_DAYS"]
    before = utcnow()
    first = make_delivery(world.rep, world.customer, world.template)
    link = portal_of(first)
    assert link.expires_at is not None
    assert before + timedelta(days=days) <= link.expires_at <= utcnow() + timedelta(days=days)
    link.expires_at = utcnow() + timedelta(days=1)  # almost used up
    jobs.commit()
    second = make_delivery(world.rep, world.customer, world.template)
    assert portal_of(second).id == link.id  # the same link, carried again by the send...
    db.session.refresh(link)
    assert link.expires_at >= before + timedelta(days=days)  # ...lives on from this send


def test_the_rep_rotates_the_portal_link_through_the_api_and_it_is_audited(
    client, world, two, api_headers
):
    a, _b = two
    old = token(a.portal_url)
    docs = doc_tokens_on_portal(client, old)
    response = client.post(
        f"/api/v1/customers/{world.customer.id}/portal-link/rotate", headers=api_headers(world.rep)
    )
    assert response.status_code == 200
    new = token(response.get_json()["portal_url"])
    assert new != old
    assert response.get_json()["expires_at"]

    assert client.get(f"/p/{old}", headers=BROWSER).status_code == 410
    assert comment(client, old, a.delivery.id) == 410
    for doc in docs:
        assert client.get(f"/d/{doc}/download", headers=BROWSER).status_code == 410
    assert client.get(f"/p/{new}", headers=BROWSER).status_code == 200
    assert comment(client, new, a.delivery.id) == 302
    # New sends and the customer's page carry the new link.
    again = make_delivery(world.rep, world.customer, world.template)
    # the same link (a token is signed anew with the second it is made: compare what it names)
    portal = LinkPurpose.PORTAL.value
    assert links.unsign(token(again.portal_url), portal) == links.unsign(new, portal)
    [entry] = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "portal_link.rotated")
    ).all()
    assert entry.actor_id == world.rep.id
    assert entry.object_id == str(world.customer.id)


def test_the_customer_page_button_rotates_the_portal_link(client, world, two, login):
    a, _b = two
    old = token(a.portal_url)
    login(world.supervisor)  # the rep's supervisor may too
    response = client.post(f"/customers/{world.customer.id}/portal-link/rotate")
    assert response.status_code == 302
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert old not in page
    assert re.search(r"/p/[^\"/?#<\s]+", page)
    assert client.get(f"/p/{old}", headers=BROWSER).status_code == 410


def test_nobody_outside_the_customer_s_team_rotates_its_portal_link(
    client, world, two, make_user, api_headers
):
    a, _b = two
    stranger = make_user("rep", email="stranger@example.com", team="华南")
    marketing = make_user("marketing", email="mkt2@example.com")
    for user in (stranger, marketing):
        response = client.post(
            f"/api/v1/customers/{world.customer.id}/portal-link/rotate", headers=api_headers(user)
        )
        assert response.status_code == 404, user.role
    assert client.get(path(a.portal_url), headers=BROWSER).status_code == 200
    rotated = select(AuditEntry).where(AuditEntry.action == "portal_link.rotated")
    assert db.session.scalars(rotated).all() == []


def test_revoking_a_delivery_for_cause_rotates_the_portal_link(client, world, two, api_headers):
    a, b = two
    portal = token(a.portal_url)
    headers = api_headers(world.rep)
    # A routine withdrawal leaves the customer's bookmarked portal alone...
    response = client.post(f"/api/v1/deliveries/{b.delivery.id}/revoke", headers=headers)
    assert response.status_code == 200
    assert client.get(f"/p/{portal}", headers=BROWSER).status_code == 200
    # ...a leak rotates it: whoever has A's link may have the portal link too.
    response = client.post(
        f"/api/v1/deliveries/{a.delivery.id}/revoke", headers=headers, json={"reason": "leaked"}
    )
    assert response.status_code == 200
    assert client.get(f"/p/{portal}", headers=BROWSER).status_code == 410
    fresh = token(response.get_json()["portal_url"])
    assert fresh != portal
    assert client.get(f"/p/{fresh}", headers=BROWSER).status_code == 200
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(["delivery.revoked", "portal_link.rotated"]))
    )
    assert sorted((e.action, e.object_id, e.details["reason"]) for e in entries) == [
        ("delivery.revoked", str(a.delivery.id), "leaked"),
        ("delivery.revoked", str(b.delivery.id), "withdrawn"),
        ("portal_link.rotated", str(world.customer.id), "delivery_leaked"),
    ]
    bad = client.post(
        f"/api/v1/deliveries/{a.delivery.id}/revoke", headers=headers, json={"reason": "x"}
    )
    assert bad.status_code == 422


def test_the_leaked_button_on_the_customer_page_rotates_the_portal_link(client, world, two, login):
    a, b = two
    portal = token(a.portal_url)
    login(world.rep)
    routine = client.post(f"/customers/{world.customer.id}/deliveries/{b.delivery.id}/revoke")
    assert routine.status_code == 302
    assert client.get(f"/p/{portal}", headers=BROWSER).status_code == 200
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert 'name="reason" value="leaked"' in page
    leaked = client.post(
        f"/customers/{world.customer.id}/deliveries/{a.delivery.id}/revoke",
        data={"reason": "leaked"},
    )
    assert leaked.status_code == 302
    assert client.get(f"/p/{portal}", headers=BROWSER).status_code == 410


def test_a_derived_link_cached_by_the_process_is_refused_as_soon_as_its_grant_ends(
    app, client, world, two, monkeypatch, shared_redis_url
):
    """Downloads are answered from a per-process cache (portal.delivery.link_cache) for up to a
    second; the grant's revocation, a change to another row than the cached link's, must empty
    it at once on the node that commits it (with Redis, every node's through a message)."""
    import uuid

    from redis import Redis

    from portal.delivery import link_cache

    redis_url = shared_redis_url
    redis = Redis.from_url(redis_url)
    prefix = f"portal-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(app.config, "INGEST_REDIS_PREFIX", prefix)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setattr(jobs, "QUEUE_NAME", f"portal-test-{uuid.uuid4().hex[:8]}")
    try:
        a, _b = two
        portal = token(a.portal_url)
        doc = next(iter(doc_tokens_on_portal(client, portal)))
        cache = link_cache.cache()
        wait_until(lambda: cache.listening, 30, "the link cache to subscribe")
        doc_id = links.unsign(doc, LinkPurpose.DOC.value)
        for _ in range(2):  # the second one comes from the cache
            assert client.get(f"/d/{doc}/download").status_code == 200
        assert cache.fresh_until(doc_id) is not None
        portal_of(a).revoked_at = utcnow()
        jobs.commit()
        assert client.get(f"/d/{doc}/download").status_code == 410
        assert client.get(f"/d/{doc}/pages/1.png").status_code == 410
    finally:
        for key in redis.scan_iter(f"{prefix}:*"):
            redis.delete(key)


def test_the_go_link_of_a_portal_page_document_is_signed_for_that_document(client, two):
    """(The /go binding itself: test_signed_targets.py.) A derived document link's page signs
    its targets for its own delivery, so they work there."""
    a, _b = two
    doc = next(iter(doc_tokens_on_portal(client, token(a.portal_url))))
    href = go_url(client, doc)
    assert parse_qs(urlsplit(href).query)["u"]
    assert client.get(href, headers=BROWSER).status_code == 302


def test_existing_customers_without_a_portal_link_get_one_that_expires(app, world):
    """portal_link() creates one on first use, with an expiry (as the migration gives the
    ones already there)."""
    customer = make_customer(world.rep, name="新客户", email="new@example.com")
    link = links.portal_link(customer)
    jobs.commit()
    assert link.parent_id is None and link.delivery_id is None
    assert link.expires_at is not None and link.expires_at > utcnow()
