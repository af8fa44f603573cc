"""Issue 17, finding 8: nobody decides an approval of a deal they own (for example a rep whose
role an admin changed to finance, approving their own deal and then marking it won)."""

from __future__ import annotations

import pytest

from portal import jobs
from portal.accounts.services import change_user
from portal.deals import approvals, services
from portal.errors import PermissionDenied
from portal.extensions import db
from tests.security.deal_support import approved_fixture, statuses  # noqa: F401


def test_an_owner_whose_role_became_finance_cannot_approve_their_own_deal(
    approved, client, api_headers, make_user
):
    admin = make_user("admin")
    deal = approved.deal
    services.update_deal(approved.rep, deal, services.DealEdit(amount="690000"))
    jobs.commit()
    assert statuses(deal) == [("finance", "pending"), ("legal", "pending")]
    change_user(approved.rep, by=admin, role="finance")
    jobs.commit()

    with pytest.raises(PermissionDenied) as refused:
        approvals.decide(approved.rep, deal, "finance", "approved")
    assert refused.value.code == "own_deal"
    db.session.rollback()
    response = client.post(
        f"/api/v1/deals/{deal.id}/approvals/finance",
        json={"decision": "approved"},
        headers=api_headers(approved.rep),
    )
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "own_deal"
    assert statuses(deal) == [("finance", "pending"), ("legal", "pending")]
    # Someone else of the role still decides it, and a rejection by the owner is refused too.
    with pytest.raises(PermissionDenied):
        approvals.decide(approved.rep, deal, "finance", "rejected")
    db.session.rollback()
    approvals.decide(approved.finance, deal, "finance", "approved")
    jobs.commit()
    assert statuses(deal)[0] == ("finance", "approved")


def test_the_owners_own_page_offers_no_decision_and_refuses_one(approved, client, login, make_user):
    admin = make_user("admin")
    deal = approved.deal
    services.update_deal(approved.rep, deal, services.DealEdit(amount="690000"))
    change_user(approved.rep, by=admin, role="legal")
    jobs.commit()
    login(approved.rep)
    decide_url = f"/deals/{deal.id}/approvals/legal"
    page = client.get(f"/deals/{deal.id}").get_data(as_text=True)
    assert decide_url not in page
    assert "这是您负责的商机：请由同一角色的其他同事审批。" in page
    response = client.post(decide_url, data={"decision": "approved"}, follow_redirects=True)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("这是您负责的商机") == 2  # the refusal too
    assert statuses(deal) == [("finance", "pending"), ("legal", "pending")]
    # The legal colleague who does not own it gets the form.
    client.post("/logout")
    login(approved.legal)
    assert decide_url in client.get(f"/deals/{deal.id}").get_data(as_text=True)
