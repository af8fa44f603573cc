"""Fixtures of the scoring tests: the default rules installed, a controlled clock, a shop."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.engagement import rules
from portal.library.models import Template
from tests.delivery.helpers import make_customer, make_template
from tests.engagement.scoring_support import CLOCKED_MODULES, Clock


@pytest.fixture
def default_rules(app):
    """The rules migration 0003 seeds (the test fixtures empty every table before a test)."""
    rules.install_defaults()
    jobs.commit()
    return rules.load_rules()


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The server's clock stands still until the test moves it."""
    fake = Clock()
    for module in CLOCKED_MODULES:
        monkeypatch.setattr(f"{module}.utcnow", fake)
    monkeypatch.setattr("portal.tracking.ingest.clock", fake)
    return fake


@dataclass
class Shop:
    marketing: User
    rep: User
    admin: User
    quote: Template  # two pages, page 2 tagged `pricing`
    brochure: Template


@pytest.fixture
def shop(make_user, default_rules) -> Shop:
    marketing = make_user("marketing")
    return Shop(
        marketing=marketing,
        rep=make_user("rep"),
        admin=make_user("admin"),
        quote=make_template(marketing),
        brochure=make_template(
            marketing, name="智能工厂产品手册", kind="brochure", content_tags=""
        ),
    )


@pytest.fixture
def buyer(shop):
    """采购总监 in 制造业: senior title and target industry."""
    return make_customer(shop.rep, title="采购总监", industry="制造业")
