"""A large deal that finance and legal have approved, shared by the deal tests of issue 17.

Import in a test module with
`from tests.security.deal_support import approved_fixture, statuses  # noqa: F401`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.deals import approvals, services
from portal.deals.evidence import EvidenceInput
from portal.deals.models import Deal
from portal.extensions import db
from tests.deals.conftest import walk_to
from tests.delivery.helpers import make_customer


@dataclass
class Approved:
    rep: User
    boss: User  # the rep's supervisor
    finance: User
    legal: User
    deal: Deal


@pytest.fixture(name="approved")
def approved_fixture(make_user):
    """A rep's 680,000 deal in negotiation that finance and legal have approved."""
    boss = make_user("supervisor", email="boss@example.com", team="华东")
    rep = make_user("rep", email="rep@example.com", team="华东", supervisor="boss@example.com")
    finance = make_user("finance", email="fin@example.com")
    legal = make_user("legal", email="legal@example.com")
    customer = make_customer(rep, "上海客户", email="sh@example.com")
    deal = negotiation(rep, customer, "680000")
    approvals.decide(finance, deal, "finance", "approved")
    approvals.decide(legal, deal, "legal", "approved")
    jobs.commit()
    return Approved(rep=rep, boss=boss, finance=finance, legal=legal, deal=deal)


def negotiation(rep, customer, amount: str) -> Deal:
    deal = services.create_deal(
        rep,
        services.DealFields(
            customer_id=customer.id,
            title="MES 产线追溯项目",
            amount=amount,
            expected_close=date(2027, 3, 15),
        ),
        EvidenceInput(stage="initial_contact", note="首次拜访纪要"),
    )
    jobs.commit()
    return walk_to(rep, deal, "negotiation")


def statuses(deal: Deal) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(a.role, a.status) for a in approvals.approvals_of(deal)]
