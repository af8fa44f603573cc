"""Fixtures of the deal tests: two teams with reps and customers in two regions, finance and
legal, and a helper that walks a deal through its stages with evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.deals import services
from portal.deals.evidence import EvidenceInput, add_evidence
from portal.deals.models import Deal
from portal.deals.stages import OPEN_STAGES
from tests.delivery.helpers import make_customer


@dataclass
class Sales:
    east_boss: User
    east_rep: User
    east_rep2: User
    south_boss: User
    south_rep: User
    finance: User
    legal: User
    shanghai: Customer  # east_rep's, region 上海
    hangzhou: Customer  # east_rep2's, region 杭州
    shenzhen: Customer  # south_rep's, region 深圳


@pytest.fixture
def sales(make_user) -> Sales:
    east_boss = make_user("supervisor", email="east@example.com", team="华东")
    south_boss = make_user("supervisor", email="south@example.com", team="华南")
    east_rep = make_user("rep", email="e1@example.com", team="华东", supervisor="east@example.com")
    east_rep2 = make_user("rep", email="e2@example.com", team="华东", supervisor="east@example.com")
    south_rep = make_user(
        "rep", email="s1@example.com", team="华南", supervisor="south@example.com"
    )
    return Sales(
        east_boss=east_boss,
        east_rep=east_rep,
        east_rep2=east_rep2,
        south_boss=south_boss,
        south_rep=south_rep,
        finance=make_user("finance", email="fin@example.com"),
        legal=make_user("legal", email="legal@example.com"),
        shanghai=make_customer(east_rep, "上海客户", region="上海", email="sh@example.com"),
        hangzhou=make_customer(east_rep2, "杭州客户", region="杭州", email="hz@example.com"),
        shenzhen=make_customer(south_rep, "深圳客户", region="深圳", email="sz@example.com"),
    )


def new_deal(
    user: User,
    customer: Customer,
    amount: str = "100000",
    close: date = date(2027, 3, 15),
    title: str = "MES 项目",
) -> Deal:
    deal = services.create_deal(
        user,
        services.DealFields(
            customer_id=customer.id, title=title, amount=amount, expected_close=close
        ),
        EvidenceInput(stage="initial_contact", note="首次拜访纪要：客户关注产线追溯"),
    )
    jobs.commit()
    return deal


def walk_to(user: User, deal: Deal, stage: str) -> Deal:
    """Add each stage's evidence and advance until the deal is in `stage`."""
    while deal.stage != stage:
        target = OPEN_STAGES[OPEN_STAGES.index(deal.stage) + 1]
        add_evidence(deal, user, EvidenceInput(stage=target, note=f"evidence for {target}"))
        services.advance(user, deal)
    jobs.commit()
    return deal
