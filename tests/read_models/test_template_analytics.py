"""Per-template analytics: known histories built through the real event path (sends, confirmed
opens, read-time batches, previews, internal views, scores, deals), every figure checked against
the same figure computed here in Python from the stored rows."""

from __future__ import annotations

import math
import re
import statistics
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.deals.models import Deal
from portal.delivery.models import Delivery
from portal.engagement import rules
from portal.engagement.grades import GRADE_A_MIN
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.read_models.analytics import Filters, analytics_of_template
from portal.statement_count import counted_statements
from portal.tracking import events
from portal.tracking.models import Event, EventType, ViewSession, Visitor
from tests.delivery.helpers import make_delivery
from tests.read_models.conftest import THREE_PAGES, read, won_deal

# -- the same figures, computed in Python from the stored rows ---------------------------------


def expected(delivery_ids: list[int], *, deal_owner_ids: set[int] | None = None) -> dict:
    deliveries = db.session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))).all()
    all_sessions = db.session.scalars(
        select(ViewSession).where(ViewSession.delivery_id.in_(delivery_ids))
    ).all()
    recipient = {d.id: d.customer_id for d in deliveries}
    # the recipients' own sessions and pages: a forwarded reader is a forward, not an open
    all_sessions = [s for s in all_sessions if s.customer_id == recipient[s.delivery_id]]
    confirmed = [s for s in all_sessions if s.confirmed_at is not None]
    opened = {s.delivery_id for s in confirmed}
    read_ms = {d: sum(s.credited_ms for s in confirmed if s.delivery_id == d) for d in opened}
    page_rows = db.session.scalars(
        select(Event).where(
            Event.delivery_id.in_(delivery_ids), Event.type == EventType.PAGE_VIEWED.value
        )
    ).all()
    per_page: dict[int, dict[int, int]] = {}
    for row in page_rows:
        if row.customer_id != recipient[row.delivery_id]:
            continue
        if row.duration_ms and row.duration_ms > 0:
            per_page.setdefault(row.page, {}).setdefault(row.delivery_id, 0)
            per_page[row.page][row.delivery_id] += row.duration_ms
    last_page = {d.id: d.version.page_count for d in deliveries}
    completed = {d for d in opened if d in per_page.get(last_page[d], {})}
    values = sorted(read_ms.values())

    def p75(items: list[int]) -> float | None:
        return round(items[math.ceil(0.75 * len(items)) - 1] / 1000, 1) if items else None

    first_send: dict[int, object] = {}
    for d in deliveries:
        first_send[d.customer_id] = min(first_send.get(d.customer_id, d.created_at), d.created_at)
    crossed = set()
    for customer_id, sent_at in first_send.items():
        total = 0
        entries = db.session.scalars(
            select(ScoreEntry)
            .where(ScoreEntry.customer_id == customer_id)
            .order_by(ScoreEntry.at, ScoreEntry.id)
        ).all()
        for entry in entries:
            before, total = total, total + entry.points
            if before < GRADE_A_MIN <= total and sent_at <= entry.at <= sent_at + timedelta(days=7):
                crossed.add(customer_id)
    deals = db.session.scalars(select(Deal).where(Deal.stage == "won")).all()
    won = {
        deal.id
        for deal in deals
        if (deal_owner_ids is None or deal.owner_id in deal_owner_ids)
        and any(
            d.customer_id == deal.customer_id and d.created_at < deal.closed_at for d in deliveries
        )
    }
    sends = len(deliveries)
    return {
        "sends": sends,
        "opens": len(opened),
        "open_rate": round(len(opened) / sends, 4) if sends else None,
        "median_read_seconds": round(statistics.median(values) / 1000, 1) if values else None,
        "p75_read_seconds": p75(values),
        "completion_rate": round(len(completed) / len(opened), 4) if opened else None,
        "previews": len(all_sessions) - len(confirmed),
        "internal_views": db.session.scalar(
            select(db.func.count()).where(
                Event.delivery_id.in_(delivery_ids), Event.type == EventType.INTERNAL_VIEWED.value
            )
        ),
        "forwards": db.session.scalar(
            select(db.func.count()).where(
                Visitor.delivery_id.in_(delivery_ids), Visitor.forwarded.is_(True)
            )
        ),
        "pages": [
            {
                "page": page,
                "readers": len(by_delivery),
                "median_seconds": round(statistics.median(by_delivery.values()) / 1000, 1),
            }
            for page, by_delivery in sorted(per_page.items())
        ],
        "recipients": len(first_send),
        "grade_a_customers": len(crossed),
        "grade_a_within_7d": round(len(crossed) / len(first_send), 4) if first_send else None,
        "deals_won": len(won),
    }


def ids(history: dict[str, list[Delivery]], *keys: str) -> list[int]:
    return [history[key].id for key in keys]


# -- the figures ---------------------------------------------------------------------------------


def test_marketing_sees_every_send_and_every_figure_adds_up(shop, history):
    figures = analytics_of_template(shop.marketing, shop.template.id, Filters()).as_json()
    assert figures == expected(ids(history, "a", "b", "c", "d", "a2", "e"))
    # The history is not degenerate: each kind of figure has something to count.
    assert figures["opens"] == 5 and figures["previews"] == 1 and figures["internal_views"] == 1
    assert figures["deals_won"] == 1 and 0 < figures["completion_rate"] < 1
    assert [p["page"] for p in figures["pages"]] == [1, 2, 3]


def test_previews_and_internal_views_are_never_opens(shop, history):
    figures = analytics_of_template(shop.marketing, shop.template.id, Filters())
    only_c = analytics_of_template(shop.marketing, shop.template.id, Filters(industry="零售"))
    assert (only_c.sends, only_c.opens, only_c.previews, only_c.internal_views) == (1, 0, 1, 1)
    assert only_c.median_read_seconds is None and only_c.pages == []
    assert figures.opens == expected(ids(history, "a", "b", "c", "d", "a2", "e"))["opens"]


def test_a_forwarded_reader_is_a_forward_not_an_open_nor_read_time(shop, history):
    """A colleague the link was forwarded to (a second device on 乙's send) reads every page:
    乙's send keeps its one open, read time and pages; the colleague is one forward."""
    before = analytics_of_template(shop.marketing, shop.template.id, Filters()).as_json()
    read(history["b"], {}, device="mine")  # 乙's own browser: the recipient's device
    read(history["b"], {1: 90_000, 2: 90_000, 3: 90_000}, device="colleague")

    after = analytics_of_template(shop.marketing, shop.template.id, Filters()).as_json()
    assert after["forwards"] == before["forwards"] + 1
    assert {k: v for k, v in after.items() if k != "forwards"} == {
        k: v for k, v in before.items() if k != "forwards"
    }
    assert after == expected(ids(history, "a", "b", "c", "d", "a2", "e"))


def test_grade_a_counts_only_crossings_within_seven_days_of_the_first_send(shop, history):
    c = shop.customers[2]  # 丙: only previewed the material, far from grade A
    db.session.refresh(c)
    assert c.grade != "A"
    reached = analytics_of_template(shop.marketing, shop.template.id, Filters())
    # 丙 leaves a comment worth grade A's points (the rule set so, as an admin would) after
    # the window, then another inside it: both scored by the real event path, at their times.
    first_sent = history["c"].created_at
    rules.update_rule("comment_created", by=None, points=GRADE_A_MIN, cap=None)
    jobs.commit()

    def comment(at):
        events.record(
            events.NewEvent(
                customer_id=c.id,
                type=EventType.COMMENT_CREATED,
                delivery_id=history["c"].id,
                occurred_at=at,
            )
        )
        jobs.commit()

    comment(first_sent + timedelta(days=8))
    late = analytics_of_template(shop.marketing, shop.template.id, Filters())
    late_expected = expected(ids(history, "a", "b", "c", "d", "a2", "e"))["grade_a_customers"]
    comment(first_sent + timedelta(days=6))
    inside = analytics_of_template(shop.marketing, shop.template.id, Filters())
    everything = ids(history, "a", "b", "c", "d", "a2", "e")
    assert late.grade_a_customers == late_expected
    assert inside.grade_a_customers == expected(everything)["grade_a_customers"]
    # 丙 was not A before the comments: the boost counts only inside the window.
    already_a = reached.grade_a_customers
    assert (late.grade_a_customers, inside.grade_a_customers) == (already_a, already_a + 1)


def test_a_deal_won_before_the_send_does_not_count(shop, history):
    b = shop.customers[1]
    won_deal(shop.east_rep, b)
    later = make_delivery(shop.east_rep, b, shop.template).delivery
    db.session.execute(
        Delivery.__table__.update()
        .where(Delivery.id.in_([history["b"].id]))
        .values(created_at=later.created_at)
    )
    jobs.commit()
    figures = analytics_of_template(shop.marketing, shop.template.id, Filters())
    assert figures.deals_won == 1  # 甲's; 乙 was sent the material only after the win
    assert (
        figures.deals_won
        == expected([*ids(history, "a", "b", "c", "d", "a2", "e"), later.id])["deals_won"]
    )


def test_filters_by_industry_region_team_and_period(shop, history):
    def figures(**kwargs):
        return analytics_of_template(shop.marketing, shop.template.id, Filters(**kwargs)).as_json()

    assert figures(industry="制造业") == expected(ids(history, "a", "b", "d", "a2", "e"))
    assert figures(region="上海") == expected(ids(history, "a", "c", "d", "a2"))
    assert figures(team="华南") == expected(ids(history, "e"))
    cut = history["d"].created_at
    assert figures(since=cut) == expected(ids(history, "d", "a2", "e"))
    assert figures(until=cut) == expected(ids(history, "a", "b", "c"))


def test_versions_are_told_apart(shop, history):
    from portal.library import services as library

    library.add_version(
        shop.template,
        shop.marketing,
        filename="doc.html",
        data=THREE_PAGES.encode(),
        changelog="v2",
    )
    jobs.commit()
    v2 = make_delivery(shop.east_rep, shop.customers[1], shop.template).delivery
    read(v2, {1: 7_000})
    first = analytics_of_template(shop.marketing, shop.template.id, Filters(version=1))
    second = analytics_of_template(shop.marketing, shop.template.id, Filters(version=2))
    assert first.as_json() == expected(ids(history, "a", "b", "c", "d", "a2", "e"))
    assert second.as_json() == expected([v2.id])
    assert second.sends == 1


# -- who sees what -------------------------------------------------------------------------------


def test_a_supervisor_sees_their_team_and_a_rep_their_own_sends(shop, history):
    east = analytics_of_template(shop.east_boss, shop.template.id, Filters()).as_json()
    south = analytics_of_template(shop.south_boss, shop.template.id, Filters()).as_json()
    rep2 = analytics_of_template(shop.east_rep2, shop.template.id, Filters()).as_json()
    east_team = {shop.east_boss.id, shop.east_rep.id, shop.east_rep2.id}
    assert east == expected(ids(history, "a", "b", "c", "d", "a2"), deal_owner_ids=east_team)
    assert south == expected(
        ids(history, "e"), deal_owner_ids={shop.south_boss.id, shop.south_rep.id}
    )
    assert south["deals_won"] == 0 and south["sends"] == 1
    assert rep2 == expected(ids(history, "d"), deal_owner_ids={shop.east_rep2.id})


def test_other_roles_get_no_figures(shop, history, make_user):
    from portal.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        analytics_of_template(make_user("finance"), shop.template.id, Filters())


# -- the API ---------------------------------------------------------------------------------------


def test_the_api_answers_the_figures_with_filters(client, api_headers, shop, history):
    url = f"/api/v1/templates/{shop.template.id}/analytics"
    response = client.get(url, headers=api_headers(shop.east_boss), query_string={"region": "上海"})
    assert response.status_code == 200
    east_team = {shop.east_boss.id, shop.east_rep.id, shop.east_rep2.id}
    body = response.get_json()
    assert body == {"template_id": shop.template.id, "version": None} | expected(
        ids(history, "a", "c", "d", "a2"), deal_owner_ids=east_team
    )
    bad = client.get(url, headers=api_headers(shop.east_boss), query_string={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "bad_date"


def test_the_api_hides_a_template_outside_the_library_scope(client, api_headers, shop, make_user):
    response = client.get("/api/v1/templates/987654/analytics", headers=api_headers(shop.marketing))
    assert response.status_code == 404
    finance = client.get(
        f"/api/v1/templates/{shop.template.id}/analytics", headers=api_headers(make_user("finance"))
    )
    assert finance.status_code in (403, 404)


# -- scale -----------------------------------------------------------------------------------------


def test_the_statement_count_does_not_grow_with_the_sends(shop):
    a = shop.customers[0]
    first = make_delivery(shop.east_rep, a, shop.template).delivery
    read(first, {1: 4_000, 3: 2_000})
    with counted_statements() as few:
        analytics_of_template(shop.marketing, shop.template.id, Filters())
    for customer in shop.customers[:4]:
        for _ in range(3):
            more = make_delivery(customer.owner, customer, shop.template).delivery
            read(more, {1: 3_000, 2: 2_000, 3: 1_000})
    with counted_statements() as many:
        figures = analytics_of_template(shop.marketing, shop.template.id, Filters())
    assert figures.sends == 13
    assert len(few) == len(many)


# -- the page -------------------------------------------------------------------------------------

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}
FIGURE = re.compile(r'<td data-figure="(\w+)">([^<]*)')
PAGE_ROW = re.compile(r'<tr data-page="(\d+)"><td>\d+</td><td>(\d+)</td>')


def shown(html: str) -> list[dict[str, str]]:
    """The figures table's columns, as the page shows them."""
    columns: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for name, value in FIGURE.findall(html):  # row by row: one cell per column
        index = seen.get(name, 0)
        seen[name] = index + 1
        if index == len(columns):
            columns.append({})
        columns[index][name] = value.strip()
    return columns


def as_shown(figures: dict) -> dict[str, str]:
    def pct(value):
        return "—" if value is None else f"{value * 100:.0f}%"

    def secs(value):
        return "—" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")

    return {
        "sends": str(figures["sends"]),
        "opens": str(figures["opens"]),
        "open_rate": pct(figures["open_rate"]),
        "median_read_seconds": secs(figures["median_read_seconds"]),
        "p75_read_seconds": secs(figures["p75_read_seconds"]),
        "completion_rate": pct(figures["completion_rate"]),
        "previews": str(figures["previews"]),
        "internal_views": str(figures["internal_views"]),
        "recipients": str(figures["recipients"]),
        "grade_a_within_7d": pct(figures["grade_a_within_7d"]),
        "deals_won": str(figures["deals_won"]),
    }


def comparable(column: dict[str, str]) -> dict[str, str]:
    """The page's column without units (秒 / s) and without the tracked-later forwards."""
    column = {k: v for k, v in column.items() if k != "forwards"}
    for key in ("median_read_seconds", "p75_read_seconds"):
        column[key] = column[key].removesuffix(" s").removesuffix(" 秒").removesuffix("秒")
    return column


@pytest.mark.parametrize("headers", [ZH, EN], ids=["zh", "en"])
def test_the_page_shows_the_figures_and_compares_two_versions(
    client, login, shop, history, headers
):
    from portal.library import services as library

    library.add_version(
        shop.template,
        shop.marketing,
        filename="doc.html",
        data=THREE_PAGES.encode(),
        changelog="v2",
    )
    jobs.commit()
    v2 = make_delivery(shop.east_rep, shop.customers[1], shop.template).delivery
    read(v2, {1: 7_000, 2: 1_000})
    login(shop.marketing)
    url = f"/library/{shop.template.id}/analytics"
    response = client.get(url, query_string={"version": 1, "compare": 2}, headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    first, second = shown(html)
    assert comparable(first) == as_shown(expected(ids(history, "a", "b", "c", "d", "a2", "e")))
    assert comparable(second) == as_shown(expected([v2.id]))
    assert html.count('<svg class="an-chart"') == 2
    rows = [(int(p), int(r)) for p, r in PAGE_ROW.findall(html)]
    pages = (
        expected(ids(history, "a", "b", "c", "d", "a2", "e"))["pages"] + expected([v2.id])["pages"]
    )
    assert rows == [(p["page"], p["readers"]) for p in pages]
    if headers is ZH:
        assert "每页读者与阅读时长中位数" in html and "预览/扫描" in html
    else:
        assert "Readers and median seconds per page" in html and "Previews/scans" in html
    assert "link.fetched" not in html and "internal.viewed" not in html


def test_the_page_is_scoped_like_the_api(client, login, shop, history, make_user):
    login(shop.south_boss)
    html = client.get(f"/library/{shop.template.id}/analytics", headers=EN).get_data(as_text=True)
    south = {shop.south_boss.id, shop.south_rep.id}
    assert comparable(shown(html)[0]) == as_shown(expected(ids(history, "e"), deal_owner_ids=south))
    client.post("/logout")
    login(make_user("finance"))
    assert client.get(f"/library/{shop.template.id}/analytics").status_code in (403, 404)


def test_the_template_page_links_to_its_analytics(client, login, shop):
    login(shop.east_rep)
    html = client.get(f"/library/{shop.template.id}", headers=EN).get_data(as_text=True)
    assert f"/library/{shop.template.id}/analytics" in html
