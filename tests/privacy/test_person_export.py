"""Exporting one person's data (issue 18): JSON by API, page and CLI, and .xlsx with formula
text neutralised; an admin or the owning rep only."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook
from sqlalchemy import select

from portal.audit.models import AuditEntry
from tests.privacy.person import EMAIL, NAME, PHONE

PARTS = {"customer", "deliveries", "events", "sessions", "comments", "score_entries", "tasks"}


def test_the_api_exports_everything_held_about_the_person(client, api_headers, people):
    _admin, rep, person, other, sent = people
    data = client.get(f"/api/v1/customers/{person.id}/export", headers=api_headers(rep))
    assert data.status_code == 200, data.get_data(as_text=True)
    body = data.get_json()
    assert set(body) == PARTS
    assert (body["customer"]["name"], body["customer"]["email"]) == (NAME, EMAIL)
    assert body["customer"]["phone"] == PHONE
    assert [d["id"] for d in body["deliveries"]] == [sent.delivery.id]
    assert {"link.opened", "comment.created"} <= {e["type"] for e in body["events"]}
    assert body["sessions"] and all(s["delivery_id"] == sent.delivery.id for s in body["sessions"])
    assert [c["text"] for c in body["comments"]] == [f"我是{NAME}，电话{PHONE}"]
    assert sum(s["points"] for s in body["score_entries"]) == body["customer"]["score"] > 0
    assert all("reason" in s for s in body["score_entries"])
    assert body["tasks"]  # the comment made a follow-up task
    # nothing of the other customer
    assert other.email not in json.dumps(body, ensure_ascii=False)
    entry = db_entry("customer.exported")
    assert (entry.actor_id, entry.object_id) == (rep.id, str(person.id))


def db_entry(action: str) -> AuditEntry:
    from portal.extensions import db

    return db.session.scalar(select(AuditEntry).where(AuditEntry.action == action))


def test_only_an_admin_or_the_owning_rep_may_export(client, api_headers, make_user, people):
    admin, _rep, person, _other, _sent = people
    other_rep = make_user("rep")
    supervisor = make_user("supervisor", email="boss2@example.com")
    url = f"/api/v1/customers/{person.id}/export"
    assert client.get(url, headers=api_headers(admin)).status_code == 200
    assert client.get(url, headers=api_headers(other_rep)).status_code == 404  # out of scope
    assert client.get(url, headers=api_headers(supervisor)).status_code == 404


def test_the_page_exports_xlsx_with_formulas_neutralised(client, login, people):
    from portal.extensions import db

    _admin, rep, person, _other, _sent = people
    person.title = '=HYPERLINK("http://evil.example","x")'
    db.session.commit()
    login(rep)
    page = client.get(f"/customers/{person.id}")
    assert f"/customers/{person.id}/export.xlsx" in page.get_data(as_text=True)
    response = client.get(f"/customers/{person.id}/export.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert len(book.sheetnames) == len(PARTS)
    first = book.worksheets[0]
    header = [c.value for c in first[1]]
    row = dict(zip(header, [c.value for c in first[2]], strict=True))
    assert row["name"] == NAME
    assert row["title"].startswith("'=")  # text, never a formula
    comments = book.worksheets[4]
    assert any(NAME in str(c.value) for r in comments.iter_rows() for c in r)
    as_json = client.get(f"/customers/{person.id}/export.json")
    assert json.loads(as_json.data)["customer"]["email"] == EMAIL


def test_cli_exports_json_and_xlsx(runner, people, tmp_path):
    _admin, _rep, person, _other, _sent = people
    result = runner.invoke(args=["privacy", "export", EMAIL])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["customer"]["id"] == person.id
    target = tmp_path / "person.xlsx"
    result = runner.invoke(args=["privacy", "export", EMAIL, "--xlsx", str(target)])
    assert result.exit_code == 0, result.output
    assert load_workbook(target).worksheets[0]["A2"].value == person.id
    assert runner.invoke(args=["privacy", "export", "nobody@example.com"]).exit_code != 0
