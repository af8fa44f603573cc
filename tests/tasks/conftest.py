"""Fixtures of the task tests: the default scoring and task rules, a team, a clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.engagement import rules as scoring_rules
from portal.library.models import Template
from portal.tasks import rules as task_rules
from tests.delivery.helpers import make_customer, make_template
from tests.engagement.scoring_support import CLOCKED_MODULES, Clock

TASK_CLOCKED = (
    "portal.tasks.services",
    "portal.tasks.handlers",
    "portal.routes.tasks",
    "portal.routes.api.tasks",
)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    for module in CLOCKED_MODULES + TASK_CLOCKED:
        monkeypatch.setattr(f"{module}.utcnow", fake)
    monkeypatch.setattr("portal.tracking.ingest.clock", fake)
    return fake


@dataclass
class Team:
    supervisor: User
    rep: User
    other_rep: User  # another supervisor's rep
    other_boss: User
    marketing: User
    quote: Template
    brochure: Template
    case_study: Template
    pack: Template
    buyer: Customer  # 采购总监 in 制造业, owned by rep


@pytest.fixture
def team(make_user) -> Team:
    scoring_rules.install_defaults()
    task_rules.install_defaults()
    jobs.commit()
    boss = make_user("supervisor", email="boss@example.com", name="王主管")
    other_boss = make_user("supervisor", email="boss2@example.com")
    rep = make_user("rep", email="rep@example.com", name="李销售", supervisor="boss@example.com")
    other = make_user("rep", email="rep2@example.com", supervisor="boss2@example.com")
    marketing = make_user("marketing")
    return Team(
        supervisor=boss,
        rep=rep,
        other_rep=other,
        other_boss=other_boss,
        marketing=marketing,
        quote=make_template(marketing),
        brochure=make_template(
            marketing, name="智能工厂产品手册", kind="brochure", content_tags=""
        ),
        case_study=make_template(
            marketing, name="汽车零部件客户案例", kind="case_study", content_tags="1:case"
        ),
        pack=make_template(marketing, name="制造业解决方案包", kind="solution", content_tags=""),
        buyer=make_customer(rep, title="采购总监", industry="制造业"),
    )
