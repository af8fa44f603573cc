"""The team funnel and the headline figures: each customer's six first times (one SQL statement)
checked against the same times computed here in Python from the stored rows, the funnel counts
and the headline figures checked against an independent count, the scope, and a flat
statement count."""

from __future__ import annotations

import re
import statistics
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.customers.models import Customer
from portal.deals.models import Deal
from portal.delivery.models import Delivery
from portal.engagement.facts import timezone
from portal.engagement.grades import GRADE_A_MIN
from portal.engagement.models import ScoreEntry
from portal.errors import PermissionDenied
from portal.extensions import db
from portal.read_models.funnel import STEPS, funnel, timelines
from portal.statement_count import counted_statements
from portal.tracking.models import Event, EventType, ViewSession
from tests.delivery.helpers import make_delivery
from tests.read_models.conftest import read


def crossing(rows: list[tuple[datetime, int, int]], threshold: int) -> datetime | None:
    """When the running total of (at, order, amount) rows first reached threshold."""
    total = 0
    for at, _, amount in sorted(rows, key=lambda r: (r[0], r[1])):
        before, total = total, total + amount
        if before < threshold <= total:
            return at
    return None


def expected_times(customer_ids: list[int]) -> dict[int, dict[str, datetime | None]]:
    out = {}
    for cid in customer_ids:
        sends = db.session.scalars(select(Delivery).where(Delivery.customer_id == cid)).all()
        confirmed = db.session.scalars(
            select(ViewSession.confirmed_at).where(
                ViewSession.customer_id == cid, ViewSession.confirmed_at.is_not(None)
            )
        ).all()
        pages = db.session.execute(
            select(Event.occurred_at, Event.id, Event.duration_ms).where(
                Event.customer_id == cid,
                Event.type == EventType.PAGE_VIEWED.value,
                Event.duration_ms > 0,
            )
        ).all()
        ledger = db.session.execute(
            select(ScoreEntry.at, ScoreEntry.id, ScoreEntry.points).where(
                ScoreEntry.customer_id == cid
            )
        ).all()
        deals = db.session.scalars(select(Deal).where(Deal.customer_id == cid)).all()
        wins = [d.closed_at for d in deals if d.stage == "won" and d.closed_at]
        out[cid] = {
            "sent": min((d.created_at for d in sends), default=None),
            "opened": min(confirmed, default=None),
            "read_2min": crossing(pages, 120_000),
            "grade_a": crossing(ledger, GRADE_A_MIN),
            "deal": min((d.created_at for d in deals), default=None),
            "won": min(wins, default=None),
        }
    return out


def strict_steps(times: dict[str, datetime | None]) -> int:
    count, previous = 0, None
    for step in STEPS:
        at = times[step]
        if at is None or (previous and at < previous):
            break
        count, previous = count + 1, at
    return count


@pytest.fixture
def funnel_history(shop, history):
    """The shared history, 甲's deal opened a day and won two days after the reading (the
    reading was credited on a clock ahead of the wall clock, as ingest tests do)."""
    deal = db.session.scalar(select(Deal).where(Deal.customer_id == shop.customers[0].id))
    late = max(e.occurred_at for e in db.session.scalars(select(Event)).all())
    # Written as SQL: the history is being set up, not a deal changed (portal.deals.guard).
    db.session.execute(
        Deal.__table__.update()
        .where(Deal.__table__.c.id == deal.id)
        .values(created_at=late + timedelta(days=1), closed_at=late + timedelta(days=2, hours=6))
    )
    jobs.commit()
    db.session.expire_all()
    return history


def test_timelines_are_the_first_times_of_each_step(shop, funnel_history):
    found = {t.customer_id: t.times for t in timelines(shop.east_boss)}
    east = [c.id for c in shop.customers[:4]]
    assert found == expected_times(east)
    first = shop.customers[0].id
    assert all(found[first][step] is not None for step in STEPS)  # 甲 went all the way


def test_funnel_counts_conversions_and_headline_figures_per_team(shop, funnel_history, make_user):
    admin = make_user("admin")
    rows = {row.key: row.as_json() for row in funnel(admin, "team", {})}
    customers = db.session.scalars(select(Customer)).all()
    times = expected_times([c.id for c in customers])
    team_of = {c.id: c.owner.team or "" for c in customers}
    for team in ("华东", "华南"):
        members = [cid for cid in times if team_of[cid] == team and times[cid]["sent"]]
        counts = [sum(1 for cid in members if strict_steps(times[cid]) > i) for i in range(6)]
        assert rows[team]["steps"] == dict(zip(STEPS, counts, strict=True))
        for i in range(1, 6):
            conversion = round(counts[i] / counts[i - 1], 4) if counts[i - 1] else None
            assert rows[team]["conversion"][STEPS[i]] == conversion
            gaps = [
                (times[c][STEPS[i]] - times[c][STEPS[i - 1]]).total_seconds() / 86_400
                for c in members
                if strict_steps(times[c]) > i
            ]
            median = round(statistics.median(gaps), 1) if gaps else None
            assert rows[team]["median_days"][STEPS[i]] == median
        cycles = [
            (times[c]["won"] - times[c]["sent"]).total_seconds() / 86_400
            for c in members
            if times[c]["won"]
        ]
        assert rows[team]["conversion_cycle_days"] == {
            "median": round(statistics.median(cycles), 1) if cycles else None,
            "mean": round(statistics.fmean(cycles), 1) if cycles else None,
        }
        reached = [c for c in times if team_of[c] == team and times[c]["grade_a"]]
        won = [c for c in reached if times[c]["won"] and times[c]["won"] >= times[c]["grade_a"]]
        assert rows[team]["a_grade_close_rate"] == (
            round(len(won) / len(reached), 4) if reached else None
        )
    assert rows["华东"]["steps"]["won"] == 1 and rows["华东"]["a_grade_close_rate"]


def test_the_period_and_the_month_group(shop, funnel_history, make_user):
    admin = make_user("admin")
    months = funnel(admin, "month", {})
    assert sum(row.steps[0].count for row in months) == 5
    later = (datetime.now().astimezone() + timedelta(days=30)).date().isoformat()
    assert funnel(admin, "month", {"since": later}) == []


def test_a_supervisor_sees_only_their_team_and_a_rep_has_no_funnel(shop, funnel_history):
    east = {t.customer_id for t in timelines(shop.east_boss)}
    south = {t.customer_id for t in timelines(shop.south_boss)}
    assert east == {c.id for c in shop.customers[:4]}
    assert south == {shop.customers[4].id}
    assert [row.key for row in funnel(shop.south_boss, "team", {})] == ["华南"]
    with pytest.raises(PermissionDenied):
        timelines(shop.east_rep)


def test_the_api_answers_the_funnel(client, api_headers, shop, funnel_history):
    response = client.get(
        "/api/v1/analytics/funnel",
        headers=api_headers(shop.east_boss),
        query_string={"group": "rep"},
    )
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [row["label"] for row in items] == sorted({shop.east_rep.name, shop.east_rep2.name})
    assert items == [row.as_json() for row in funnel(shop.east_boss, "rep", {})]
    bad = client.get(
        "/api/v1/analytics/funnel",
        headers=api_headers(shop.east_boss),
        query_string={"group": "planet"},
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "bad_group"
    rep = client.get("/api/v1/analytics/funnel", headers=api_headers(shop.east_rep))
    assert rep.status_code == 403


def test_the_statement_count_does_not_grow_with_the_customers(shop, make_user):
    admin = make_user("admin")
    a = shop.customers[0]
    read(make_delivery(shop.east_rep, a, shop.template).delivery, {1: 3_000})
    with counted_statements() as few:
        funnel(admin, "team", {})
    for customer in shop.customers:
        for _ in range(3):
            read(make_delivery(customer.owner, customer, shop.template).delivery, {1: 60_000})
    jobs.commit()
    with counted_statements() as many:
        rows = funnel(admin, "team", {})
    assert sum(row.steps[0].count for row in rows) == 5
    assert len(few) == len(many)


# -- the supervisor's home page --------------------------------------------------------------------

ROW = re.compile(
    r'<tr data-month="([\d-]+)"><th scope="row">[^<]*</th>\s*'
    r'<td data-figure="cycle_median">([^<]*)</td>\s*'
    r'<td data-figure="cycle_mean">([^<]*)</td>\s*'
    r'<td data-figure="a_grade_close_rate">([^<]*)'
)


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("zh-CN,zh;q=0.9", "转化周期与 A 级成交率"),
        ("en", "Conversion cycle and A-grade close rate"),
    ],
)
def test_the_supervisor_home_page_shows_the_headline_figures(
    app, client, login, shop, funnel_history, language, title
):
    login(shop.east_boss)
    html = client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
    assert title in html
    with app.test_request_context():
        zone = timezone()
    times = expected_times([c.id for c in shop.customers[:4]])
    months: dict[str, dict] = {}
    for t in times.values():
        if t["won"] and t["sent"] and t["won"] >= t["sent"]:
            month = months.setdefault(t["won"].astimezone(zone).strftime("%Y-%m"), {})
            month.setdefault("cycles", []).append((t["won"] - t["sent"]).total_seconds() / 86_400)
        if t["grade_a"]:
            month = months.setdefault(t["grade_a"].astimezone(zone).strftime("%Y-%m"), {})
            month.setdefault("reached", []).append(bool(t["won"] and t["won"] >= t["grade_a"]))
    shown = {m: (med, mean, rate.strip()) for m, med, mean, rate in ROW.findall(html)}
    want = {}
    for month, figures in months.items():
        cycles, reached = figures.get("cycles", []), figures.get("reached", [])
        want[month] = (
            str(round(statistics.median(cycles), 1)) if cycles else "—",
            str(round(statistics.fmean(cycles), 1)) if cycles else "—",
            f"{sum(reached) / len(reached) * 100:.0f}%" if reached else "—",
        )
    assert shown == want
    assert any(cycle != "—" for cycle, _, _ in shown.values())


def test_a_rep_home_page_has_no_headline(client, login, shop, funnel_history):
    login(shop.east_rep)
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="headline"' not in html


# -- the funnel page -------------------------------------------------------------------------------

CELL = re.compile(r'<td data-step="(\w+)"><a href="([^"]+)">(\d+)</a>')


@pytest.mark.parametrize(
    ("language", "title"), [("zh-CN,zh;q=0.9", "团队漏斗"), ("en", "Team funnel")]
)
def test_the_funnel_page_shows_the_counts_and_the_customers_behind_them(
    client, login, shop, funnel_history, language, title
):
    login(shop.east_boss)
    headers = {"Accept-Language": language}
    html = client.get("/analytics/funnel?group=team", headers=headers).get_data(as_text=True)
    assert title in html
    cells = CELL.findall(html)
    rows = funnel(shop.east_boss, "team", {})
    assert [(step, int(n)) for step, _, n in cells] == [
        (f.step, f.count) for row in rows for f in row.steps
    ]
    opened = next(href for step, href, _ in cells if step == "opened")
    listed = client.get(opened.replace("&amp;", "&"), headers=headers).get_data(as_text=True)
    shown = {int(c) for c in re.findall(r'<li data-customer="(\d+)">', listed)}
    assert shown == {t.customer_id for t in rows[0].steps[1].customers} and shown
    assert shop.customers[4].name not in listed  # the other team's customer


def test_the_funnel_page_is_for_supervisors_and_admins(client, login, shop, funnel_history):
    login(shop.east_rep)
    assert client.get("/analytics/funnel").status_code == 403
