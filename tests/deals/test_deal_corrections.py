"""Correcting an open deal: title, amount, currency, expected close; the forecast follows, the
audit log says who changed what, and finance's and legal's decisions do not survive new terms."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal import jobs
from portal.audit.models import AuditEntry
from portal.deals import approvals, forecast, services
from portal.deals.errors import DealRefused
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.notifications.models import Notification
from tests.deals.conftest import new_deal, walk_to


def _entries(deal_id: int) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "deal.changed", AuditEntry.object_id == str(deal_id)
            )
        )
    )


def _weighted_minor(user) -> Decimal:
    """The weighted pipeline the user's own forecast shows (a rep sees only their deals)."""
    return sum((r.weighted_minor for r in forecast.forecast(user, "rep")), Decimal(0))


def test_a_correction_moves_the_forecast_and_is_audited_once(sales):
    deal = new_deal(sales.east_rep, sales.shanghai, "100000")
    before = _weighted_minor(sales.east_rep)

    changes = services.update_deal(
        sales.east_rep,
        deal,
        services.DealEdit(title=" MES 二期 ", amount="150000", expected_close=date(2027, 6, 30)),
    )
    jobs.commit()

    assert set(changes) == {"title", "amount_minor", "expected_close"}
    assert (deal.title, deal.amount_minor, deal.expected_close) == (
        "MES 二期",
        15_000_000,
        date(2027, 6, 30),
    )
    # 初步接触 weighs 10 %: 50,000 more is 5,000 more forecast (in minor units).
    assert _weighted_minor(sales.east_rep) == before + 500_000
    [entry] = _entries(deal.id)
    assert entry.actor_id == sales.east_rep.id
    assert entry.details["amount"] == ["100,000.00", "150,000.00"]
    assert entry.details["expected_close"] == ["2027-03-15", "2027-06-30"]

    # The same values again: nothing changes, nothing is written.
    again = services.update_deal(
        sales.east_rep, deal, services.DealEdit(title="MES 二期", amount="150000.00")
    )
    jobs.commit()
    assert again == {}
    assert len(_entries(deal.id)) == 1


def test_bad_values_are_refused_and_nothing_changes(sales):
    deal = new_deal(sales.east_rep, sales.shanghai, "100000")
    for edit in (
        services.DealEdit(amount="-5"),
        services.DealEdit(amount="12.345"),
        services.DealEdit(title="   "),
        services.DealEdit(currency="人民币"),
    ):
        with pytest.raises(ValidationFailed):
            services.update_deal(sales.east_rep, deal, edit)
        db.session.rollback()
    db.session.refresh(deal)
    assert (deal.amount_minor, deal.title, deal.currency) == (10_000_000, "MES 项目", "CNY")
    assert _entries(deal.id) == []


def test_only_the_owner_or_their_supervisor_corrects_and_only_an_open_deal(sales):
    deal = new_deal(sales.east_rep, sales.shanghai, "100000")
    with pytest.raises(PermissionDenied):
        services.update_deal(sales.east_rep2, deal, services.DealEdit(amount="1"))
    with pytest.raises((PermissionDenied, NotFound)):
        services.update_deal(sales.south_boss, deal, services.DealEdit(amount="1"))
    services.update_deal(sales.east_boss, deal, services.DealEdit(amount="90000"))
    jobs.commit()
    assert deal.amount_minor == 9_000_000

    services.mark_lost(sales.east_rep, deal, "预算取消")
    jobs.commit()
    with pytest.raises(DealRefused) as refused:
        services.update_deal(sales.east_rep, deal, services.DealEdit(amount="80000"))
    assert refused.value.code == "deal_closed"


def test_new_terms_put_the_approvals_back_to_pending_and_ask_again(sales):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "680000"), "negotiation"
    )
    approvals.decide(sales.finance, deal, "finance", "approved")
    approvals.decide(sales.legal, deal, "legal", "approved")
    jobs.commit()
    asked_before = db.session.query(Notification).count()

    # A title change is not new terms: the decisions stand.
    services.update_deal(sales.east_rep, deal, services.DealEdit(title="MES 项目（含运维）"))
    jobs.commit()
    assert {a.status for a in approvals.approvals_of(deal)} == {"approved"}

    services.update_deal(sales.east_rep, deal, services.DealEdit(amount="900000"))
    jobs.commit()
    rows = approvals.approvals_of(deal)
    assert [(a.role, a.status, a.decided_by_id) for a in rows] == [
        ("finance", "pending", None),
        ("legal", "pending", None),
    ]
    assert db.session.query(Notification).count() >= asked_before + 2
    with pytest.raises(DealRefused) as refused:
        services.mark_won(sales.east_rep, deal)
    assert refused.value.code == "approval_pending"


def test_a_deal_in_negotiation_raised_above_the_threshold_gets_its_approvals(sales):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "300000"), "negotiation"
    )
    assert approvals.approvals_of(deal) == []
    services.update_deal(sales.east_rep, deal, services.DealEdit(amount="600000"))
    jobs.commit()
    assert [(a.role, a.status) for a in approvals.approvals_of(deal)] == [
        ("finance", "pending"),
        ("legal", "pending"),
    ]


def test_the_page_and_the_api_correct_a_deal(sales, client, login, api_headers):
    deal = new_deal(sales.east_rep, sales.shanghai, "100000")
    login(sales.east_rep)
    page = client.get(f"/deals/{deal.id}")
    assert f'action="/deals/{deal.id}/edit"' in page.get_data(as_text=True)

    saved = client.post(
        f"/deals/{deal.id}/edit",
        data={
            "title": "MES 项目",
            "amount": "120000.50",
            "currency": "cny",
            "expected_close": "2027-04-30",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200
    db.session.refresh(deal)
    assert (deal.amount_minor, deal.currency, deal.expected_close) == (
        12_000_050,
        "CNY",
        date(2027, 4, 30),
    )
    refused = client.post(
        f"/deals/{deal.id}/edit",
        data={"title": "MES 项目", "amount": "abc", "currency": "CNY", "expected_close": ""},
        follow_redirects=True,
    )
    assert "金额必须是数字" in refused.get_data(
        as_text=True
    )  # the page speaks the reader's language
    db.session.refresh(deal)
    assert deal.amount_minor == 12_000_050

    headers = api_headers(sales.east_rep)
    answer = client.patch(f"/api/v1/deals/{deal.id}", json={"amount": 130000}, headers=headers)
    assert answer.status_code == 200, answer.json
    assert answer.json["amount"] == "130000.00"
    bad = client.patch(f"/api/v1/deals/{deal.id}", json={"amount": True}, headers=headers)
    assert bad.status_code == 422
    wrong = client.patch(f"/api/v1/deals/{deal.id}", json={"amount": "abc"}, headers=headers)
    assert wrong.status_code == 422
    assert "amount must be a number" in wrong.json["error"]["message"]  # the API: English
    other = client.patch(
        f"/api/v1/deals/{deal.id}", json={"amount": 1}, headers=api_headers(sales.south_rep)
    )
    assert other.status_code == 404
