"""Stored XSS: what customers, reps and marketing type is shown as text on every page.

Payloads go in through every free-text field a stranger or a colleague controls: the customer's
comment (from the customer portal), the customer's name and company, a template's name,
description and changelog, the rep's message and reply. Every page that shows them (staff and
customer side) must show them escaped: the escaped text is there, the live markup is not.
"""

from __future__ import annotations

import io

import pytest

from portal import jobs
from portal.customers.services import CustomerFields, create_customer
from portal.delivery import services as delivery_services
from portal.delivery.comments import add_customer_comment, add_staff_reply
from portal.library.services import TemplateFields, add_version, create_template
from tests.security.attack_support import HTML, sign_in, token_in

PAYLOAD = (
    "<script>alert('xss')</script><img src=x onerror=alert(1)>"
    '"\'><svg onload=alert(2)><a href="javascript:alert(3)">x</a>'
)
LIVE = ["<script>alert(", "<img src=x onerror", "<svg onload", 'href="javascript:alert']
ESCAPED = "&lt;script&gt;alert("


def assert_escaped(html: str, where: str, must_show: bool = True) -> None:
    for fragment in LIVE:
        assert fragment not in html, f"{where}: live {fragment!r}"
    if must_show:
        assert ESCAPED in html, f"{where}: the payload is not shown at all (test proves nothing)"


@pytest.fixture
def poisoned(app, make_user):
    boss = make_user("supervisor", email="boss@example.com")
    rep = make_user("rep", email="rep@example.com", supervisor="boss@example.com")
    marketing = make_user("marketing")
    admin = make_user("admin")
    customer = create_customer(
        rep, CustomerFields(name=f"客户{PAYLOAD}", company=f"公司{PAYLOAD}", title=PAYLOAD)
    )
    version = create_template(
        marketing,
        TemplateFields(
            name=f"模板{PAYLOAD}",
            kind="case_study",
            description=PAYLOAD,
            tags=["a<b>"],
            industry=PAYLOAD[:60],
        ),
        filename="doc.html",
        data=HTML.format(title="标题").encode(),
        changelog=f"首版{PAYLOAD}",
    )
    jobs.commit()
    add_version(
        version.template,
        marketing,
        filename="doc.html",
        data=HTML.format(title="二版").encode(),
        changelog=f"二版{PAYLOAD}",
    )
    jobs.commit()
    sent = delivery_services.send(
        rep,
        delivery_services.SendRequest(
            customer_id=customer.id, template_id=version.template.id, message=f"留言{PAYLOAD}"
        ),
    )
    jobs.commit()
    add_customer_comment(customer.id, sent.delivery.id, f"评论{PAYLOAD}")
    add_staff_reply(rep, sent.delivery, f"回复{PAYLOAD}")
    jobs.commit()
    return {
        "rep": rep,
        "boss": boss,
        "marketing": marketing,
        "admin": admin,
        "customer": customer,
        "template": version.template,
        "sent": sent,
    }


def test_staff_pages_show_every_payload_escaped(poisoned, client):
    c, t, d = poisoned["customer"], poisoned["template"], poisoned["sent"].delivery
    pages = {
        "rep": [
            f"/customers/{c.id}",
            "/customers/",
            "/",
            "/tasks",
            "/notifications/",
            f"/customers/{c.id}/sent/{d.id}",
            "/library/",
            f"/library/{t.id}",
            "/customers/?group=account",
            f"/accounts/{c.account_id}",
        ],
        "boss": [f"/customers/{c.id}", "/customers/", "/tasks/team", f"/accounts/{c.account_id}"],
        "marketing": [
            "/library/",
            f"/library/{t.id}",
            f"/library/{t.id}/edit",
            f"/library/{t.id}/versions/new",
        ],
        "admin": ["/admin/solution-packs"],
    }
    silent = {"/", "/tasks", "/notifications/", "/tasks/team", "/admin/solution-packs"}
    for who, urls in pages.items():
        sign_in(client, poisoned[who])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (who, url)
            assert_escaped(response.get_data(as_text=True), f"{who} {url}", url not in silent)
        client.post("/logout")


def test_customer_pages_show_every_payload_escaped(poisoned, client):
    sent = poisoned["sent"]
    for url in (f"/p/{token_in(sent.portal_url)}", f"/d/{token_in(sent.url)}"):
        response = client.get(url)
        assert response.status_code == 200
        assert_escaped(response.get_data(as_text=True), url)


def test_a_comment_posted_through_the_portal_is_escaped_for_the_rep(poisoned, client):
    sent = poisoned["sent"]
    portal = f"/p/{token_in(sent.portal_url)}"
    response = client.post(
        f"{portal}/comments", data={"delivery_id": sent.delivery.id, "text": "新" + PAYLOAD}
    )
    assert response.status_code == 302
    assert_escaped(client.get(portal).get_data(as_text=True), portal)
    sign_in(client, poisoned["rep"])
    html = client.get(f"/customers/{poisoned['customer'].id}").get_data(as_text=True)
    assert_escaped(html, "rep customer page")
    assert "新&lt;script&gt;" in html


def test_names_typed_into_staff_forms_are_escaped(poisoned, client):
    sign_in(client, poisoned["rep"])
    response = client.post(
        "/customers/new", data={"name": PAYLOAD, "company": PAYLOAD}, follow_redirects=True
    )
    assert response.status_code == 200
    assert_escaped(response.get_data(as_text=True), "new customer page")
    client.post("/logout")
    sign_in(client, poisoned["marketing"])
    response = client.post(
        "/library/new",
        data={
            "name": "新" + PAYLOAD,
            "kind": "brochure",
            "changelog": PAYLOAD,
            "file": (io.BytesIO(b"<p>hi</p>"), "a.html"),
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert_escaped(response.get_data(as_text=True), "new template page")


def test_json_answers_are_json_and_never_sniffed_as_html(poisoned, client, api_headers):
    headers = api_headers(poisoned["rep"])
    response = client.get(f"/api/v1/customers/{poisoned['customer'].id}", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["name"] == f"客户{PAYLOAD}"  # stored as typed, nothing lost
