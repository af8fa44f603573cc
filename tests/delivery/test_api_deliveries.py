"""The delivery and customer endpoints of /api/v1."""

from __future__ import annotations

from urllib.parse import urlsplit

from portal.extensions import db
from portal.tracking.models import Event
from tests.viewer_support import open_in_viewer


def test_a_rep_sends_a_template_and_gets_the_links(client, world, api_headers):
    headers = api_headers(world.rep)
    response = client.post(
        "/api/v1/deliveries",
        json={
            "customer_id": world.customer.id,
            "template_id": world.template.id,
            "message": "请查收",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"id", "url", "portal_url", "qr_svg_url"}
    assert urlsplit(body["url"]).path.startswith("/d/")
    assert urlsplit(body["portal_url"]).path.startswith("/p/")
    open_in_viewer(client, body["url"])
    qr = client.get(urlsplit(body["qr_svg_url"]).path)
    assert qr.status_code == 200 and b"<svg" in qr.data
    detail = client.get(f"/api/v1/deliveries/{body['id']}", headers=headers).json
    assert detail["render_status"] == "ready"
    assert detail["opens"] == 1
    assert detail["version_policy"] == "pinned"  # a quote
    assert detail["message"] == "请查收"


def test_revoke_makes_the_link_gone_on_the_next_request(client, world, api_headers):
    headers = api_headers(world.rep)
    body = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": world.template.id},
        headers=headers,
    ).json
    path = urlsplit(body["url"]).path
    assert client.get(path).status_code == 200
    revoked = client.post(f"/api/v1/deliveries/{body['id']}/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json["revoked_at"]
    assert client.get(path).status_code == 410


def test_another_reps_customer_and_delivery_are_404(client, world, make_user, api_headers):
    headers = api_headers(world.rep)
    delivery_id = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": world.template.id},
        headers=headers,
    ).json["id"]
    other = api_headers(make_user("rep"))
    assert client.get(f"/api/v1/customers/{world.customer.id}", headers=other).status_code == 404
    assert client.get(f"/api/v1/deliveries/{delivery_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/deliveries/{delivery_id}/revoke", headers=other).status_code == 404
    response = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": world.template.id},
        headers=other,
    )
    assert response.status_code == 404
    boss = api_headers(world.supervisor)
    assert client.get(f"/api/v1/deliveries/{delivery_id}", headers=boss).status_code == 200


def test_a_template_the_rep_may_not_send_is_404(client, world, make_user, api_headers):
    from tests.delivery.helpers import make_template

    secret = make_template(world.marketing, name="Only 华南", allowed_teams=["华南"])
    response = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": secret.id},
        headers=api_headers(world.rep),
    )
    assert response.status_code == 404


def test_bad_delivery_input_is_a_clear_4xx(client, world, api_headers):
    headers = api_headers(world.rep)
    base = {"customer_id": world.customer.id, "template_id": world.template.id}
    cases = [
        ({}, 422, "customer_id is required"),
        ({"customer_id": "1", "template_id": world.template.id}, 422, "integer"),
        (base | {"expires_in_days": 0}, 422, "between"),
        (base | {"version_policy": "x"}, 422, "version_policy"),
        (base | {"allow_download": "no"}, 422, "true or false"),
    ]
    for payload, status, message in cases:
        response = client.post("/api/v1/deliveries", json=payload, headers=headers)
        assert response.status_code == status, payload
        assert message in response.json["error"]["message"], payload
    not_json = client.post("/api/v1/deliveries", data="x", headers=headers)
    assert not_json.status_code == 400
    assert "JSON object" in not_json.json["error"]["message"]


def test_a_refused_body_names_its_code_and_the_member_it_concerns(client, world, api_headers):
    """Clients tell errors apart by code and field, never by the English message."""
    headers = api_headers(world.rep)
    base = {"customer_id": world.customer.id, "template_id": world.template.id}
    cases = [
        ({}, "required", "customer_id"),
        ({"customer_id": "1", "template_id": world.template.id}, "not_an_integer", "customer_id"),
        (base | {"expires_in_days": 0}, "bad_expiry", "expires_in_days"),
        (base | {"version_policy": "x"}, "bad_version_policy", "version_policy"),
        (base | {"allow_download": "no"}, "not_a_boolean", "allow_download"),
        (base | {"template_id": 987654}, "not_found", "template_id"),
    ]
    for payload, code, field in cases:
        error = client.post("/api/v1/deliveries", json=payload, headers=headers).json["error"]
        assert (error["code"], error["field"]) == (code, field), payload
        assert set(error) == {"code", "message", "field"}
    not_json = client.post("/api/v1/deliveries", data="x", headers=headers).json["error"]
    assert "field" not in not_json  # about the whole body, no member


def test_customers_are_created_and_read_with_score_fields(client, world, api_headers):
    headers = api_headers(world.rep)
    response = client.post(
        "/api/v1/customers",
        json={"name": "王芳", "company": "苏州汇通", "title": "副总经理", "email": "W@Example.com",
              "phone": "138", "industry": "制造业", "region": "苏州"},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 201
    customer = client.get(f"/api/v1/customers/{response.json['id']}", headers=headers).json
    assert customer["name"] == "王芳"
    assert customer["email"] == "w@example.com"
    assert customer["owner_email"] == "rep@example.com"
    assert (customer["score"], customer["grade"], customer["score_breakdown"]) == (0, "C", [])
    bad = client.post("/api/v1/customers", json={"name": " "}, headers=headers)
    assert bad.status_code == 422


def test_timeline_lists_sends_and_events_newest_first(client, world, api_headers):
    headers = api_headers(world.rep)
    body = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": world.template.id},
        headers=headers,
    ).json
    open_in_viewer(client, body["url"])
    items = client.get(f"/api/v1/customers/{world.customer.id}/timeline", headers=headers).json[
        "items"
    ]
    types = [item["type"] for item in items]
    assert "delivery.sent" in types and "link.opened" in types
    assert types.index("link.opened") < types.index("delivery.sent")
    assert db.session.query(Event).filter_by(type="link.opened").count() == 1
