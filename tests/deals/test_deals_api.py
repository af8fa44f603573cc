"""The JSON API and the staff pages: scope, refusals, approvals."""

from __future__ import annotations

import io

from portal.deals.models import DealEvidence
from portal.extensions import db
from portal.library.storage import get_storage
from tests.deals.conftest import new_deal, walk_to


def test_create_advance_and_evidence_through_the_api(app, sales, client, api_headers, login):
    headers = api_headers(sales.east_rep)
    body = {
        "customer_id": sales.shanghai.id,
        "title": "二期扩容",
        "amount": "120000.50",
        "expected_close": "2027-05-31",
    }
    refused = client.post("/api/v1/deals", json=body, headers=headers)
    assert refused.status_code == 422
    assert "meeting notes" in refused.json["error"]["message"]
    created = client.post(
        "/api/v1/deals", json=body | {"meeting_notes": "拜访纪要"}, headers=headers
    )
    assert created.status_code == 201
    deal_id = created.json["id"]
    advance = client.post(f"/api/v1/deals/{deal_id}/advance", headers=headers)
    assert advance.status_code == 422
    assert "requirement list" in advance.json["error"]["message"]
    upload = client.post(
        f"/api/v1/deals/{deal_id}/evidence",
        data={"stage": "needs_confirmed", "file": (io.BytesIO(b"1. MES\n2. WMS"), "需求清单.txt")},
        headers=headers,
    )
    assert upload.status_code == 201, upload.json
    row = db.session.get(DealEvidence, upload.json["id"])
    assert row.storage_key.startswith(f"deals/{deal_id}/evidence/")
    assert get_storage().get(row.storage_key) == b"1. MES\n2. WMS"
    assert row.filename == "需求清单.txt" and len(row.sha256) == 64
    moved = client.post(f"/api/v1/deals/{deal_id}/advance", headers=headers)
    assert moved.status_code == 200 and moved.json["stage"] == "needs_confirmed"
    assert moved.json["probability"] == 35 and moved.json["amount"] == "120000.50"
    detail = client.get(f"/api/v1/deals/{deal_id}", headers=headers).json
    assert [e["stage"] for e in detail["evidence"]] == ["initial_contact", "needs_confirmed"]
    login(sales.east_rep)
    download = client.get(f"/deals/{deal_id}/evidence/{row.id}/file")
    assert download.status_code == 200 and download.data == b"1. MES\n2. WMS"
    assert download.headers["Content-Disposition"].startswith("attachment")
    outsider = app.test_client()
    outsider.post("/login", data={"email": sales.south_rep.email, "password": "password123"})
    assert outsider.get(f"/deals/{deal_id}/evidence/{row.id}/file").status_code == 404


def test_another_teams_rep_gets_404(sales, client, api_headers, login):
    deal = new_deal(sales.east_rep, sales.shanghai)
    outsider = api_headers(sales.south_rep)
    assert client.get(f"/api/v1/deals/{deal.id}", headers=outsider).status_code == 404
    assert client.post(f"/api/v1/deals/{deal.id}/advance", headers=outsider).status_code == 404
    assert client.get("/api/v1/deals", headers=outsider).json["items"] == []
    # finance sees nothing until a deal is routed to finance
    assert (
        client.get(f"/api/v1/deals/{deal.id}", headers=api_headers(sales.finance)).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/deals/{deal.id}", headers=api_headers(sales.east_boss)).status_code
        == 200
    )
    login(sales.south_rep)
    assert client.get(f"/deals/{deal.id}").status_code == 404


def test_approval_through_the_api_and_finance_scope(sales, client, api_headers):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "900000"), "negotiation"
    )
    rep = api_headers(sales.east_rep)
    refused = client.post(f"/api/v1/deals/{deal.id}/won", headers=rep)
    assert refused.status_code == 422 and "finance" in refused.json["error"]["message"]
    finance, legal = api_headers(sales.finance), api_headers(sales.legal)
    assert [d["id"] for d in client.get("/api/v1/deals", headers=finance).json["items"]] == [
        deal.id
    ]
    assert client.get("/api/v1/approvals", headers=legal).json["items"][0]["status"] == "pending"
    for role, headers in (("finance", finance), ("legal", legal)):
        decided = client.post(
            f"/api/v1/deals/{deal.id}/approvals/{role}",
            json={"decision": "approved"},
            headers=headers,
        )
        assert decided.status_code == 200 and decided.json["status"] == "approved"
    # finance may not move the deal itself
    assert client.post(f"/api/v1/deals/{deal.id}/won", headers=finance).status_code == 403
    won = client.post(f"/api/v1/deals/{deal.id}/won", headers=rep)
    assert won.status_code == 200 and won.json["stage"] == "won"


def test_staff_pages_render_and_refusals_are_flashed(sales, client, login):
    deal = walk_to(sales.east_rep, new_deal(sales.east_rep, sales.shanghai), "needs_confirmed")
    login(sales.east_rep)
    for url in ("/deals", f"/deals/{deal.id}", "/deals/forecast", "/deals/new"):
        assert client.get(url).status_code == 200, url
    page = client.post(
        f"/deals/{deal.id}/advance",
        data={"csrf_token": _token(client, deal.id)},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "方案演示" in page.text and "定制演示的记录" in page.text  # the refusal, in Chinese


def _token(client, deal_id: int) -> str:
    import re

    html = client.get(f"/deals/{deal_id}").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_finance_pages(sales, client, login):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "900000"), "negotiation"
    )
    login(sales.finance)
    assert client.get("/").status_code == 200
    assert deal.title in client.get("/deals").text
    assert deal.title in client.get("/deals/approvals").text
    page = client.get(f"/deals/{deal.id}").text
    assert 'value="approved"' in page  # finance decides here
    assert "/advance" not in page  # but does not move the deal
    assert client.get("/deals/forecast").status_code == 404
