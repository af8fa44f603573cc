"""The per-visit export (.xlsx, .csv; page and API): rows recomputed from the stored sessions of
a known history (real event path), the page's filters and the user's scope, the visit kinds
counted as the analytics page counts them, formula text neutralised, files that open."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import openpyxl
import pytest
from sqlalchemy import select

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.read_models import visits
from portal.read_models.analytics import Filters, analytics_of_template
from portal.statement_count import counted_statements
from portal.tracking.models import Event, EventType, ViewSession, Visitor
from tests.delivery.helpers import make_customer, make_delivery
from tests.read_models.conftest import read

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
KIND_EN = {"open": "customer open", "forwarded": "forwarded reader", "preview": None}


def expected(deliveries: list[Delivery]) -> list[tuple]:
    """(delivery, customer, seconds, pages, kind) per stored session of these sends."""
    result = []
    by_id = {d.id: d for d in deliveries}
    sessions = db.session.scalars(
        select(ViewSession)
        .where(ViewSession.delivery_id.in_(by_id))
        .order_by(ViewSession.started_at, ViewSession.id)
    ).all()
    for s in sessions:
        delivery = by_id[s.delivery_id]
        pages = {
            e.page
            for e in db.session.scalars(
                select(Event).where(
                    Event.session_id == s.id, Event.type == EventType.PAGE_VIEWED.value
                )
            )
            if e.duration_ms and e.duration_ms > 0
        }
        if s.confirmed_at is None:
            kind = "preview/scan (never confirmed)"
        elif s.customer_id != delivery.customer_id or (s.visitor_id and _forwarded(s)):
            kind = "forwarded reader"
        else:
            kind = "customer open"
        result.append(
            (delivery.id, delivery.customer.name, round(s.credited_ms / 1000, 1), len(pages), kind)
        )
    return result


def _forwarded(session: ViewSession) -> bool:
    return bool(db.session.get(Visitor, session.visitor_id).forwarded)


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel opens the UTF-8 as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_rows(data: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def summary(rows: list[list]) -> list[tuple]:
    """The recomputable columns of the exported rows (header dropped)."""
    return [(int(r[0]), r[1], float(r[6]), int(r[7]), r[8]) for r in rows[1:]]


def pick(history, *keys: str) -> list[Delivery]:
    return [history[k] for k in keys]


@pytest.fixture
def forwarded(shop, history):
    read(history["b"], {}, device="mine")  # 乙's own browser: the recipient's device
    read(history["b"], {1: 30_000, 2: 20_000}, device="colleague")  # a forwarded reader
    return history


def test_rows_are_the_stored_sessions_with_their_kind(app, shop, forwarded):
    with app.test_request_context(headers=EN):
        admin_rows = list(visits.rows(shop.east_boss, {}))
    assert admin_rows[0] == [
        "Delivery",
        "Customer",
        "Account",
        "Visitor",
        "Device",
        "Started",
        "Seconds",
        "Pages",
        "Kind",
    ]
    east = pick(forwarded, "a", "b", "c", "d", "a2")
    assert summary(admin_rows) == expected(east)
    kinds = [row[8] for row in admin_rows[1:]]
    # as the analytics page counts: opens (sends with a customer open), previews, forwards
    figures = analytics_of_template(shop.east_boss, shop.template.id, Filters())
    opened = {row[0] for row in admin_rows[1:] if row[8] == "customer open"}
    assert len(opened) == figures.opens
    assert kinds.count("preview/scan (never confirmed)") == figures.previews
    assert kinds.count("forwarded reader") == figures.forwards == 1
    # staff looking at a link (the internal view of c) is no visit
    c_rows = [r for r in admin_rows[1:] if r[0] == forwarded["c"].id]
    assert len(c_rows) == 1 and c_rows[0][8].startswith("preview")


def test_page_export_follows_the_filters_and_the_scope(client, login, shop, history):
    login(shop.east_rep)
    data = client.get(
        "/analytics/visits.csv", headers=EN, query_string={"region": "上海"}
    ).get_data()
    rows = csv_rows(data)
    # a rep: their own customers (甲, 丙 in 上海), never 丁 (east_rep2's) nor 戊 (south)
    assert [(int(r[0]), r[1], float(r[6]), int(r[7]), r[8]) for r in rows[1:]] == expected(
        pick(history, "a", "c", "a2")
    )
    # the send's time, as the page's "sent from": d (east_rep2's), a2 and e are later
    later = csv_rows(
        client.get(
            "/analytics/visits.csv",
            headers=EN,
            query_string={
                "template": shop.template.id,
                "version": 1,
                "since": history["d"].created_at.isoformat(),
            },
        ).get_data()
    )
    assert summary(later) == expected(pick(history, "a2"))


def test_xlsx_opens_and_matches_the_csv(client, login, shop, history):
    login(shop.east_boss)
    xlsx = client.get("/analytics/visits.xlsx", headers=ZH, query_string={"industry": "制造业"})
    assert xlsx.status_code == 200
    assert xlsx.headers["Content-Type"].startswith(visits.XLSX_TYPE)
    assert "attachment" in xlsx.headers["Content-Disposition"]
    book = xlsx_rows(xlsx.get_data())
    assert book[0][:3] == ["发送编号", "客户", "公司"]
    csv_file = csv_rows(
        client.get(
            "/analytics/visits.csv", headers=ZH, query_string={"industry": "制造业"}
        ).get_data()
    )
    assert [int(r[0]) for r in book[1:]] == [int(r[0]) for r in csv_file[1:]]
    assert {int(r[0]) for r in book[1:]} == {d.id for d in pick(history, "a", "b", "d", "a2")}
    assert all(isinstance(r[5], datetime) for r in book[1:])  # started, a real date-time


def test_formula_text_is_neutralised(client, login, shop):
    evil = make_customer(
        shop.east_rep,
        '=HYPERLINK("http://x","y")',
        email="evil@example.com",
        company="@SUM(A1)",
        region="上海",
    )
    send = make_delivery(shop.east_rep, evil, shop.template).delivery
    read(send, {1: 5_000})
    login(shop.east_rep)
    rows = csv_rows(client.get("/analytics/visits.csv", headers=EN).get_data())
    mine = [r for r in rows[1:] if int(r[0]) == send.id]
    assert mine and mine[0][1] == '\'=HYPERLINK("http://x","y")'
    assert mine[0][2] == "'@SUM(A1)"
    book = xlsx_rows(client.get("/analytics/visits.xlsx", headers=EN).get_data())
    cells = next(r for r in book[1:] if r[0] == send.id)
    assert cells[1].startswith("'=") and cells[2].startswith("'@")


def test_the_api_exports_the_same_scoped_rows(client, api_headers, shop, history, make_user):
    headers = {**api_headers(shop.south_rep), **EN}
    response = client.get("/api/v1/analytics/visits.csv", headers=headers)
    assert response.status_code == 200
    assert summary(csv_rows(response.get_data())) == expected(pick(history, "e"))
    xlsx = client.get(
        "/api/v1/analytics/visits.xlsx",
        headers={**api_headers(shop.east_boss), **EN},
        query_string={"team": "华东", "region": "杭州"},
    )
    assert summary(xlsx_rows(xlsx.get_data())) == expected(pick(history, "b"))
    admin = {**api_headers(make_user("admin")), **EN}
    every = csv_rows(client.get("/api/v1/analytics/visits.csv", headers=admin).get_data())
    assert summary(every) == expected(pick(history, "a", "b", "c", "d", "a2", "e"))
    marketing = client.get("/api/v1/analytics/visits.csv", headers=api_headers(shop.marketing))
    assert marketing.status_code == 403
    assert marketing.get_json()["error"]["code"] == "no_visits"
    bad = client.get("/api/v1/analytics/visits.csv", headers=admin, query_string={"version": "2"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "version_needs_template"
    hidden = client.get(
        "/api/v1/analytics/visits.xlsx", headers=admin, query_string={"template": "987654"}
    )
    assert hidden.status_code == 404


def test_the_export_is_one_statement_whatever_the_visits(app, shop, history):
    with app.test_request_context(headers=EN), counted_statements() as few:
        list(visits.rows(shop.east_boss, {}))
    for customer in shop.customers[:3]:
        for _ in range(3):
            read(make_delivery(shop.east_rep, customer, shop.template).delivery, {1: 1_000})
    with app.test_request_context(headers=EN), counted_statements() as many:
        assert len(list(visits.rows(shop.east_boss, {}))) > 10
    assert len(many) == len(few)


def test_the_analytics_pages_link_to_the_export_with_their_filters(client, login, shop, history):
    login(shop.east_boss)
    page = client.get(
        f"/library/{shop.template.id}/analytics",
        headers=EN,
        query_string={"version": "1", "region": "上海"},
    ).get_data(as_text=True)
    link = re.search(r'href="(/analytics/visits\.csv\?[^"]+)"', page)
    assert link, page
    url = link.group(1).replace("&amp;", "&")
    assert f"template={shop.template.id}" in url and "version=1" in url
    rows = csv_rows(client.get(url, headers=EN).get_data())
    assert summary(rows) == expected(pick(history, "a", "c", "d", "a2"))
    funnel = client.get("/analytics/funnel", headers=EN, query_string={"since": "2020-01-01"})
    assert 'href="/analytics/visits.xlsx?since=2020-01-01"' in funnel.get_data(as_text=True)
