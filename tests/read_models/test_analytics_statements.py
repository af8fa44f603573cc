"""Issue 14: the analytics pages and API send as many SQL statements for 1,000 sends as for 10.

The sends, their sessions and their page reads are inserted directly and rolled up by the
rebuild (portal.tracking.rollups): what is counted here is how the pages read them; the tests
beside this one build their histories through the real event path and check the figures.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery, RenderStatus
from portal.extensions import db
from portal.statement_count import counted_statements
from portal.tracking import rollups
from portal.tracking.models import Event, EventType, ViewSession
from tests.read_models.conftest import Shop

FEW, MANY = 10, 1_000


def add_sends(shop: Shop, count: int) -> None:
    """count sends of the template to the shop's customers in turn, by their owners: four in
    five opened (a confirmed session, pages 1–3 read), the fifth only previewed."""
    template = shop.template
    version = template.latest_version
    now = utcnow()
    rows = [
        {
            "customer_id": shop.customers[n % len(shop.customers)].id,
            "template_id": template.id,
            "version_id": version.id,
            "policy": template.version_policy,
            "sender_id": shop.customers[n % len(shop.customers)].owner_id,
            "created_at": now - timedelta(days=n % 30, minutes=n),
            "render_status": RenderStatus.READY,
        }
        for n in range(count)
    ]
    db.session.execute(insert(Delivery), rows)
    sends = db.session.execute(
        select(Delivery.id, Delivery.customer_id, Delivery.created_at)
        .where(Delivery.template_id == template.id)
        .order_by(Delivery.id.desc())
        .limit(count)
    ).all()
    db.session.execute(
        insert(ViewSession),
        [
            {
                "public_id": secrets.token_hex(16),
                "delivery_id": send.id,
                "customer_id": send.customer_id,
                "version_number": version.number,
                "started_at": send.created_at + timedelta(hours=1),
                "last_seen_at": send.created_at + timedelta(hours=1, minutes=2),
                "confirmed_at": None if n % 5 == 4 else send.created_at + timedelta(hours=1),
                "credited_ms": 0 if n % 5 == 4 else 9_000,
            }
            for n, send in enumerate(sends)
        ],
    )
    sessions = dict(
        db.session.execute(
            select(ViewSession.delivery_id, ViewSession.id).where(
                ViewSession.delivery_id.in_([send.id for send in sends])
            )
        ).all()
    )
    db.session.execute(
        insert(Event),
        [
            {
                "customer_id": send.customer_id,
                "delivery_id": send.id,
                "session_id": sessions[send.id],
                "type": EventType.PAGE_VIEWED.value,
                "page": page,
                "duration_ms": 3_000,
                "occurred_at": send.created_at + timedelta(hours=1, seconds=page),
                "properties": {},
            }
            for n, send in enumerate(sends)
            if n % 5 != 4
            for page in (1, 2, 3)
        ],
    )
    rollups.rebuild([send.id for send in sends])
    jobs.commit()


def statements(client, path: str) -> int:
    db.session.expire_all()
    with counted_statements() as sent:
        answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return len(sent)


@pytest.mark.parametrize("where", ["page", "api"])
def test_template_analytics_statements_do_not_grow_with_the_sends(
    where, shop, client, login, api_headers
):
    if where == "page":
        login(shop.marketing)
        path, headers = f"/library/{shop.template.id}/analytics", {}
    else:
        path = f"/api/v1/templates/{shop.template.id}/analytics"
        headers = api_headers(shop.marketing)
    if headers:
        client.environ_base["HTTP_AUTHORIZATION"] = headers["Authorization"]
    add_sends(shop, FEW)
    few = statements(client, path)
    add_sends(shop, MANY - FEW)
    many = statements(client, path)
    assert few == many, (few, many)
    if where == "api":  # and the figures are the thousand sends'
        figures = client.get(path).get_json()
        assert figures["sends"] == MANY


@pytest.mark.parametrize(
    "path",
    [
        "/analytics/funnel?group=team",
        "/analytics/funnel?group=month",
        "/analytics/visits.csv",
        "/api/v1/analytics/funnel?group=rep",
        "/api/v1/analytics/visits.csv",
    ],
)
def test_funnel_and_visits_statements_do_not_grow_with_the_sends(
    path, shop, client, login, api_headers, make_user
):
    admin = make_user("admin")
    if path.startswith("/api/"):
        client.environ_base["HTTP_AUTHORIZATION"] = api_headers(admin)["Authorization"]
    else:
        login(admin)
    add_sends(shop, FEW)
    few = statements(client, path)
    add_sends(shop, MANY - FEW)
    many = statements(client, path)
    assert few == many, (few, many)
    if path.endswith(".csv"):  # and what was read is the thousand sends' sessions
        lines = client.get(path).get_data(as_text=True).strip().splitlines()
        assert len(lines) - 1 == MANY, len(lines)
