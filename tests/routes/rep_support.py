"""Shared pieces of the rep-side page tests (customers, sending, notifications).

Import the `team` fixture into a test module with
`from tests.routes.rep_support import team_fixture  # noqa: F401`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.delivery.services import Sent
from portal.library.models import Template
from portal.tracking import ingest, sessions
from portal.tracking.models import ViewSession
from tests.delivery.helpers import make_customer, make_delivery, make_template


@dataclass
class Team:
    marketing: User
    supervisor: User
    rep: User
    other_rep: User  # same supervisor
    stranger: User  # another team's rep
    customer: Customer  # rep's
    other_customer: Customer  # other_rep's
    stranger_customer: Customer
    template: Template  # a two-page quote, page 2 tagged pricing

    def send(self, customer: Customer | None = None, **options) -> Sent:
        return make_delivery(self.rep, customer or self.customer, self.template, **options)


@pytest.fixture(name="team")
def team_fixture(make_user) -> Team:
    supervisor = make_user("supervisor", email="boss@example.com", name="陈主管")
    rep = make_user("rep", email="rep@example.com", name="李雷", supervisor="boss@example.com")
    other = make_user("rep", email="rep2@example.com", name="韩梅", supervisor="boss@example.com")
    make_user("supervisor", email="south@example.com", name="南区主管")
    stranger = make_user(
        "rep", email="rep3@example.com", name="周杰", supervisor="south@example.com"
    )
    marketing = make_user("marketing", name="市场部")
    return Team(
        marketing=marketing,
        supervisor=supervisor,
        rep=rep,
        other_rep=other,
        stranger=stranger,
        customer=make_customer(rep, name="张伟", company="华东精密制造"),
        other_customer=make_customer(
            other, name="王芳", company="杭州智造", email="wang@example.com"
        ),
        stranger_customer=make_customer(stranger, name="刘强", company="深圳电子", email=None),
        template=make_template(marketing),
    )


def read_pages(delivery: Delivery, pages: dict[int, int], minutes_ago: int = 5) -> ViewSession:
    """The customer opened delivery and read each page for pages[n] seconds (through ingest)."""
    session = sessions.start_session(delivery, 1, "Mozilla/5.0 test", "203.0.113.9")
    session.started_at = session.last_seen_at = ingest.clock() - timedelta(minutes=minutes_ago)
    token = sessions.ingest_token(session)
    jobs.commit()
    reports = [
        {"k": uuid.uuid4().hex, "type": "page.viewed", "page": page, "ms": seconds * 1000}
        for page, seconds in pages.items()
    ]
    ingest.ingest_batch(token, {"s": token, "reports": reports})
    return session


def csrf_token(html: str, prefix: str = "") -> str:
    match = re.search(rf'name="{re.escape(prefix)}csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"the page has no {prefix}csrf_token"
    return match.group(1)
