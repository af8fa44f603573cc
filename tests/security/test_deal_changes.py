"""Issue 17, finding 1: a deal changes only through the deals services.

Finding 1 was an import that set a deal's amount itself: finance's and legal's approvals of
680,000 stood for 68,000,000, the deal could be won, and the audit log said only "1 updated".
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import jobs
from portal.audit.models import AuditEntry
from portal.deals import approvals
from portal.deals.guard import DealWrittenOutsideService
from portal.deals.models import Deal
from portal.extensions import db
from tests.security.deal_support import approved_fixture, statuses  # noqa: F401

HEADER = ["客户邮箱", "商机名称", "金额", "币种", "预计成交", "负责人邮箱", "会议纪要"]


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _changes(deal_id: int) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "deal.changed", AuditEntry.object_id == str(deal_id))
            .order_by(AuditEntry.id)  # the last one last: without it PostgreSQL's order is any
        )
    )


def _sheet(amount: str) -> bytes:
    return _csv(
        [HEADER, ["sh@example.com", "MES 产线追溯项目", amount, "CNY", "2027-03-15", "", ""]]
    )


def _import_through_the_api(client, headers, data: bytes):
    return client.post(
        "/api/v1/imports",
        data={"kind": "deals", "dry_run": "false", "file": (io.BytesIO(data), "deals.csv")},
        headers=headers,
    )


def _import_through_the_page(client, data: bytes):
    preview = client.post(
        "/exchange/import",
        data={"kind": "deals", "file": (io.BytesIO(data), "deals.csv")},
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200, preview.get_data(as_text=True)
    key = re.search(r'name="key"[^>]*value="([^"]+)"', preview.get_data(as_text=True))
    assert key, "the preview offers no confirm step"
    return client.post("/exchange/import/confirm", data={"key": key.group(1)})


@pytest.mark.parametrize("entry", ["api", "page"])
def test_an_import_that_changes_the_amount_reopens_the_approvals(
    approved, client, api_headers, login, entry
):
    deal = approved.deal
    assert statuses(deal) == [("finance", "approved"), ("legal", "approved")]
    headers = api_headers(approved.rep)

    if entry == "api":
        response = _import_through_the_api(client, headers, _sheet("68,000,000"))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.json["summary"]["update"] == 1, response.json
    else:
        login(approved.rep)
        assert _import_through_the_page(client, _sheet("68,000,000")).status_code == 200

    db.session.expire_all()
    assert db.session.get(Deal, deal.id).amount_minor == 6_800_000_000
    assert statuses(deal) == [("finance", "pending"), ("legal", "pending")]
    won = client.post(f"/api/v1/deals/{deal.id}/won", headers=headers)
    assert won.status_code == 422, won.get_data(as_text=True)
    assert won.json["error"]["code"] == "approval_pending"
    [entry_row] = _changes(deal.id)
    assert entry_row.actor_id == approved.rep.id
    assert entry_row.details["amount"] == ["680,000.00", "68,000,000.00"]
    assert db.session.get(Deal, deal.id).stage == "negotiation"


def test_the_same_sheet_again_changes_nothing_and_keeps_the_approvals(
    approved, client, api_headers
):
    response = _import_through_the_api(client, api_headers(approved.rep), _sheet("680000"))
    assert response.json["summary"]["unchanged"] == 1, response.json
    assert statuses(approved.deal) == [("finance", "approved"), ("legal", "approved")]
    assert _changes(approved.deal.id) == []


def test_a_deal_written_outside_the_service_is_refused_before_any_sql(approved):
    """The class, not the one import: any code that sets a deal's terms, stage or owner
    itself fails at the flush, so the approvals and the audit log cannot be bypassed."""
    deal = approved.deal
    for field, value in (
        ("amount_minor", 1),
        ("currency", "USD"),
        ("stage", "won"),
        ("owner_id", approved.boss.id),
        ("expected_close", date(2030, 1, 1)),
    ):
        setattr(deal, field, value)
        with pytest.raises(DealWrittenOutsideService, match=field):
            db.session.flush()
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).amount_minor == 68_000_000
    assert statuses(deal) == [("finance", "approved"), ("legal", "approved")]


def test_every_entry_point_goes_through_the_service(approved, client, login, api_headers):
    """The page form, the API PATCH and the import: each reopens the approvals and leaves one
    deal.changed entry with the old and the new amount."""
    deal = approved.deal
    login(approved.rep)
    steps = [
        lambda: client.post(f"/deals/{deal.id}/edit", data={"amount": "700000"}),
        lambda: client.patch(
            f"/api/v1/deals/{deal.id}", json={"amount": "710000"}, headers=api_headers(approved.rep)
        ),
        lambda: _import_through_the_api(client, api_headers(approved.rep), _sheet("720000")),
    ]
    amounts = ["680,000.00", "700,000.00", "710,000.00", "720,000.00"]
    for n, step in enumerate(steps):
        approvals.decide(approved.finance, deal, "finance", "approved")
        approvals.decide(approved.legal, deal, "legal", "approved")
        jobs.commit()
        assert step().status_code in (200, 302)
        assert statuses(deal) == [("finance", "pending"), ("legal", "pending")], n
        assert _changes(deal.id)[-1].details["amount"] == amounts[n : n + 2]
    assert len(_changes(deal.id)) == 3


def test_no_bulk_statement_writes_deals_outside_the_service():
    """The flush guard sees ORM writes; an UPDATE/INSERT/DELETE statement on the deals table
    would pass it, so none may exist outside portal/deals/services.py."""
    root = Path(__file__).resolve().parents[2] / "portal"
    statement = re.compile(r"\b(update|insert|delete)\(\s*(Deal|\"deals\"|'deals')\b")
    raw_sql = re.compile(r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+deals\b", re.IGNORECASE)
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        if path.relative_to(root).as_posix() != "deals/services.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if statement.search(line) or raw_sql.search(line)
    ]
    assert found == []
