"""Bundles (资料包): one send of several documents behind one link, each tracked on its own."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.delivery import bundles
from portal.delivery.models import Bundle, Delivery
from portal.delivery.services import SendRequest
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.tracking.models import Event, Link, LinkPurpose
from tests.delivery.helpers import make_template
from tests.viewer_support import open_in_viewer

DOC_LINK = re.compile(r'href="(/d/[^"/]+)"')


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def three(world):
    """A case study, the world's quote (document 2: opening a quote scores) and a brochure."""
    rules.install_defaults()  # the default scoring rules (the tables are emptied per test)
    case = make_template(world.marketing, name="客户案例", kind="case_study")
    brochure = make_template(world.marketing, name="产品手册", kind="brochure")
    return [case, world.template, brochure]


def _send(world, templates, **options) -> bundles.SentBundle:
    sent = bundles.send_any(
        world.rep,
        SendRequest(
            customer_id=world.customer.id, template_ids=[t.id for t in templates], **options
        ),
    )
    jobs.commit()
    return sent


def _doc_paths(page_html: str) -> list[str]:
    return list(dict.fromkeys(DOC_LINK.findall(page_html)))


def test_a_bundle_page_lists_each_document_and_records_nothing(client, world, three):
    sent = _send(world, three)
    assert len(sent.documents) == 3
    assert _count(Delivery) == 3 and _count(Bundle) == 1
    page = client.get(urlsplit(sent.url).path, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "资料包：3 份资料" in text
    for name in ("方案报价", "客户案例", "产品手册"):
        assert name in text
    assert "2 页" in text
    assert '<meta property="og:title" content="资料包：3 份资料">' in text
    assert world.customer.name not in text.split("</head>")[0]  # no customer data in the card
    image = re.search(r'<meta property="og:image" content="([^"]+)">', text).group(1)
    assert image.startswith("http") and "/thumb/" in image
    assert client.get(urlsplit(image).path).mimetype == "image/jpeg"  # a preview of nothing
    assert len(_doc_paths(text)) == 3
    assert _count(Event) == 0  # the bundle page is no open, no preview of any document
    assert _count(ScoreEntry) == 0
    english = client.get(urlsplit(sent.url).path, headers={"Accept-Language": "en"})
    assert "Bundle: 3 documents" in english.get_data(as_text=True)
    assert "View" in english.get_data(as_text=True)
    assert "Document" not in english.get_data(as_text=True)  # (no passcode here)
    assert "查看" in text


def test_opening_document_two_scores_only_document_two(client, world, three):
    sent = _send(world, three)
    text = client.get(urlsplit(sent.url).path).get_data(as_text=True)
    second = _doc_paths(text)[1]
    open_in_viewer(client, second)
    opened = db.session.scalars(select(Delivery).where(Delivery.first_opened_at.is_not(None))).all()
    assert [d.id for d in opened] == [sent.documents[1].delivery.id]
    scored = set(
        db.session.scalars(
            select(Event.delivery_id).join(ScoreEntry, ScoreEntry.event_id == Event.id)
        )
    )
    assert scored == {sent.documents[1].delivery.id}
    assert db.session.scalar(select(func.sum(ScoreEntry.points))) > 0


def test_a_revoked_bundle_reveals_nothing(client, world, three):
    sent = _send(world, three)
    path = urlsplit(sent.url).path
    doc_path = _doc_paths(client.get(path).get_data(as_text=True))[0]
    bundles.revoke_bundle(world.rep, sent.bundle.id)
    jobs.commit()
    gone = client.get(path)
    assert gone.status_code == 410
    text = gone.get_data(as_text=True)
    assert all(name not in text for name in ("方案报价", "客户案例", "产品手册"))
    assert client.get(doc_path).status_code == 410  # the page's link to a document
    for doc in sent.documents:  # and each document's own link: revoked with the bundle
        assert client.get(urlsplit(doc.url).path).status_code == 410
    assert _count(Event) == 0


def test_an_expired_bundle_is_gone_and_a_forged_token_unknown(client, world, three):
    sent = _send(world, three, expires_in_days=1)
    link = db.session.scalar(select(Link).where(Link.purpose == LinkPurpose.BUNDLE.value))
    assert link.expires_at is not None
    assert client.get("/b/not-a-token").status_code == 404
    doc_token = urlsplit(sent.documents[0].url).path.split("/")[-1]
    assert client.get(f"/b/{doc_token}").status_code == 404  # a doc token opens no bundle


@pytest.mark.parametrize(
    ("ids", "code"),
    [
        ([], "bundle_empty"),
        ([1, 1], "bundle_duplicate_template"),
        (list(range(1, 12)), "bundle_too_large"),
    ],
)
def test_a_bad_list_is_refused_and_nothing_is_created(world, ids, code):
    with pytest.raises(ValidationFailed) as refused:
        bundles.send_any(world.rep, SendRequest(customer_id=world.customer.id, template_ids=ids))
    assert (refused.value.code, refused.value.field) == (code, "template_ids")
    db.session.rollback()
    assert _count(Delivery) == 0 and _count(Bundle) == 0


def test_both_or_neither_template_id_and_ids_are_refused(world):
    with pytest.raises(ValidationFailed) as both:
        bundles.send_any(
            world.rep,
            SendRequest(
                customer_id=world.customer.id,
                template_id=world.template.id,
                template_ids=[world.template.id],
            ),
        )
    assert both.value.code == "template_id_and_ids"
    with pytest.raises(ValidationFailed) as neither:
        bundles.send_any(world.rep, SendRequest(customer_id=world.customer.id))
    assert (neither.value.code, neither.value.field) == ("required", "template_id")


def test_a_template_the_rep_may_not_send_refuses_the_whole_bundle(world, three):
    other_team = make_template(world.marketing, name="华南专用", allowed_teams=["华南"])
    with pytest.raises(NotFound) as refused:
        bundles.send_any(
            world.rep,
            SendRequest(
                customer_id=world.customer.id,
                template_ids=[three[0].id, three[1].id, other_team.id],
            ),
        )
    assert refused.value.field == "template_ids"
    db.session.rollback()
    assert _count(Delivery) == 0 and _count(Bundle) == 0 and _count(Link) == 0


def test_a_passcode_hides_each_documents_title_on_the_bundle_page(client, world, three):
    sent = _send(world, three[:2], passcode="2468")
    text = client.get(urlsplit(sent.url).path, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "方案报价" not in text and "客户案例" not in text and "资料包" not in text
    assert text.count("A document protected by a passcode") == 2
    assert "/thumb/" not in text
    assert all(d.delivery.passcode_hash for d in sent.documents)


def test_watermark_follows_each_documents_kind(world, three):
    sent = _send(world, three)
    assert [d.delivery.watermark for d in sent.documents] == [False, True, False]


def test_the_portal_home_lists_the_bundles_documents(client, world, three):
    sent = _send(world, three)
    text = client.get(urlsplit(sent.portal_url).path).get_data(as_text=True)
    for name in ("方案报价", "客户案例", "产品手册"):
        assert name in text


# --- the API ----------------------------------------------------------------------------------


def test_the_api_sends_a_bundle_of_three_and_revokes_it(client, world, three, api_headers):
    headers = api_headers(world.rep)
    response = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_ids": [t.id for t in three]},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"bundle_id", "url", "portal_url", "deliveries"}
    assert urlsplit(body["url"]).path.startswith("/b/")
    assert [d["template_id"] for d in body["deliveries"]] == [t.id for t in three]
    assert _count(Delivery) == 3
    assert _count(Link) >= 4  # 3 doc links, the bundle link (and the portal link)
    detail = client.get(f"/api/v1/bundles/{body['bundle_id']}", headers=headers)
    assert detail.status_code == 200 and detail.json["revoked_at"] is None
    other = api_headers(world.supervisor)  # the rep's supervisor sees it too
    assert client.get(f"/api/v1/bundles/{body['bundle_id']}", headers=other).status_code == 200
    revoked = client.post(f"/api/v1/bundles/{body['bundle_id']}/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert client.get(urlsplit(body["url"]).path).status_code == 410
    one = client.get(f"/api/v1/deliveries/{body['deliveries'][1]['id']}", headers=headers)
    assert one.json["revoked_at"]


@pytest.mark.parametrize(
    ("member", "code", "status"),
    [
        ({"template_id": 1, "template_ids": [1]}, "template_id_and_ids", 422),
        ({}, "required", 422),
        ({"template_ids": []}, "bundle_empty", 422),
        ({"template_ids": [1, 1]}, "bundle_duplicate_template", 422),
        ({"template_ids": list(range(1, 12))}, "bundle_too_large", 422),
        ({"template_ids": [1, 98765]}, "not_found", 404),
    ],
)
def test_the_api_refuses_a_bad_bundle_with_its_code(
    client, world, api_headers, member, code, status
):
    response = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, **member},
        headers=api_headers(world.rep),
    )
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert _count(Delivery) == 0 and _count(Bundle) == 0


def test_another_rep_may_not_read_or_revoke_a_bundle(client, world, three, make_user, api_headers):
    sent = _send(world, three)
    stranger = api_headers(make_user("rep", email="other@example.com"))
    assert client.get(f"/api/v1/bundles/{sent.bundle.id}", headers=stranger).status_code == 404
    refused = client.post(f"/api/v1/bundles/{sent.bundle.id}/revoke", headers=stranger)
    assert refused.status_code == 404
    assert client.get(urlsplit(sent.url).path).status_code == 200


def test_the_staff_form_sends_a_bundle(client, world, three, login):
    login(world.rep)
    page = client.get(f"/customers/{world.customer.id}", headers={"Accept-Language": "zh-CN"})
    assert "一次发送多份资料（资料包）" in page.get_data(as_text=True)
    response = client.post(
        f"/customers/{world.customer.id}/send",
        data={
            "template_id": three[0].id,
            "more_template_ids": [three[1].id, three[2].id],
            "ask_visitor": "off",
            "allow_download": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert "/bundles/" in response.headers["Location"]
    assert _count(Delivery) == 3
    sent_page = client.get(response.headers["Location"], headers={"Accept-Language": "zh-CN"})
    assert "资料包 · 3 份资料" in sent_page.get_data(as_text=True)
    detail = client.get(f"/customers/{world.customer.id}", headers={"Accept-Language": "zh-CN"})
    assert detail.get_data(as_text=True).count("data-bundle ") == 3


def test_the_rep_withdraws_the_bundle_from_its_page(client, world, three, login):
    sent = _send(world, three, passcode="135790")
    login(world.rep)
    page = client.get(f"/customers/{world.customer.id}/bundles/{sent.bundle.id}")
    assert page.status_code == 200
    assert "135790" not in page.get_data(as_text=True)  # shown once, after the send only
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    data = {"csrf_token": token.group(1)} if token else {}
    response = client.post(
        f"/customers/{world.customer.id}/bundles/{sent.bundle.id}/revoke", data=data
    )
    assert response.status_code == 302
    assert client.get(urlsplit(sent.url).path).status_code == 410
    assert all(d.revoked_at for d in db.session.scalars(select(Delivery)))
