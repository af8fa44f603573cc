"""Fixtures of the read-model tests: two teams, a three-page template, and a known history of
sends, opens, reads, previews, internal views, scores and a won deal (all through the real
event path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.deals import services as deal_services
from portal.deals.models import Deal
from portal.delivery.models import Delivery
from portal.delivery.open_confirmation import confirm_open
from portal.engagement import rules
from portal.library.models import Template
from portal.tracking import events, sessions
from portal.tracking.ingest import ingest_batch
from portal.tracking.models import EventType
from tests.deals.conftest import new_deal, walk_to
from tests.delivery.helpers import make_customer, make_delivery, make_template

PAGE = '<section style="page-break-after: always">'
THREE_PAGES = (
    "<!doctype html><html><head><meta charset='utf-8'></head><body>"
    f"{PAGE}<h1>一</h1></section>{PAGE}<h1>二</h1></section><section><h1>三</h1></section>"
    "</body></html>"
)


@dataclass
class Shop:
    marketing: User
    east_boss: User
    east_rep: User
    east_rep2: User
    south_boss: User
    south_rep: User
    template: Template
    customers: list[Customer]


@pytest.fixture
def shop(make_user) -> Shop:
    rules.install_defaults()
    jobs.commit()
    marketing = make_user("marketing")
    east_boss = make_user("supervisor", email="east@example.com", team="华东")
    south_boss = make_user("supervisor", email="south@example.com", team="华南")
    east_rep = make_user("rep", email="e1@example.com", team="华东", supervisor="east@example.com")
    east_rep2 = make_user("rep", email="e2@example.com", team="华东", supervisor="east@example.com")
    south_rep = make_user(
        "rep", email="s1@example.com", team="华南", supervisor="south@example.com"
    )
    template = make_template(marketing, name="MES 方案", html=THREE_PAGES, content_tags="")
    customers = [
        make_customer(east_rep, "甲", email="a@example.com", industry="制造业", region="上海"),
        make_customer(east_rep, "乙", email="b@example.com", industry="制造业", region="杭州"),
        make_customer(east_rep, "丙", email="c@example.com", industry="零售", region="上海"),
        make_customer(east_rep2, "丁", email="d@example.com", industry="制造业", region="上海"),
        make_customer(south_rep, "戊", email="e@example.com", industry="制造业", region="深圳"),
    ]
    return Shop(
        marketing, east_boss, east_rep, east_rep2, south_boss, south_rep, template, customers
    )


def read(
    delivery: Delivery, pages: dict[int, int], *, confirm: bool = True, device: str | None = None
) -> None:
    """A customer opens the delivery in the viewer (confirmed, as the viewer script does) and
    reads `pages` ({page: ms}); confirm=False: only fetched (a preview); `device`: the browser's
    device cookie (a second device on a link is a forwarded reader)."""
    session = sessions.start_session(
        delivery, 1, "Mozilla/5.0 test", "203.0.113.7", confirmed=False
    )
    token = sessions.ingest_token(session, page_count=3)
    jobs.commit()
    if not confirm:
        return
    confirm_open(token, device)
    jobs.commit()
    if pages:
        reports = [
            {
                "k": f"{session.id}-{page}",
                "type": "page.viewed",
                "page": page,
                "ms": ms,
                "final": False,
            }
            for page, ms in pages.items()
        ]
        later = session.started_at + timedelta(seconds=sum(pages.values()) / 1000 + 60)
        ingest_batch(token, {"s": token, "reports": reports}, now=later)


def internal_view(delivery: Delivery) -> None:
    events.record(
        events.NewEvent(
            customer_id=delivery.customer_id,
            type=EventType.INTERNAL_VIEWED,
            delivery_id=delivery.id,
            occurred_at=delivery.created_at,
        )
    )
    jobs.commit()


def won_deal(rep: User, customer: Customer) -> Deal:
    deal = walk_to(rep, new_deal(rep, customer), "negotiation")
    deal_services.mark_won(rep, deal)
    jobs.commit()
    return deal


@pytest.fixture
def history(shop: Shop) -> dict[str, list[Delivery]]:
    """Six sends: read fully, read in part, previewed only, seen by staff only, twice to one
    customer; one to the other team. Customer 甲 reads past 2 minutes, then their deal is won."""
    a, b, c, d, e = shop.customers
    sends = {
        "a": make_delivery(shop.east_rep, a, shop.template).delivery,
        "b": make_delivery(shop.east_rep, b, shop.template).delivery,
        "c": make_delivery(shop.east_rep, c, shop.template).delivery,
        "d": make_delivery(shop.east_rep2, d, shop.template).delivery,
        "a2": make_delivery(shop.east_rep, a, shop.template).delivery,
        "e": make_delivery(shop.south_rep, e, shop.template).delivery,
    }
    read(sends["a"], {1: 40_000, 2: 30_000, 3: 20_000})
    read(sends["a"], {1: 5_000})  # a second session of the same send: one opened send
    read(sends["b"], {1: 12_000, 2: 3_000})
    read(sends["c"], {}, confirm=False)  # a link preview
    internal_view(sends["c"])
    read(sends["d"], {1: 8_000, 2: 9_000, 3: 10_000})
    read(sends["e"], {1: 99_000, 3: 1_000})
    read(sends["a2"], {1: 50_000})  # 甲 has now read more than 2 minutes
    won_deal(shop.east_rep, a)
    return sends
