"""The customer page explains the score (points per rule, the events behind them, a chart of the
score over time) and suggests materials for a pasted chat message, each one click from sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.engagement.ledger import refresh_scores
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.recommendations import keywords
from portal.statement_count import counted_statements
from portal.tracking.models import Event
from tests.delivery.helpers import make_customer, make_template
from tests.routes.rep_support import (
    csrf_token,
    team_fixture,  # noqa: F401  (the `team` fixture)
)

ASK = "你好,能发一下报价和类似客户的案例吗?"


def _award(customer, rule_key, points, *, delivery=None, event_type=None, minutes_ago=0, scope=""):
    at = utcnow() - timedelta(minutes=minutes_ago)
    event = None
    if event_type:
        event = Event(
            customer_id=customer.id,
            delivery_id=delivery.id if delivery else None,
            type=event_type,
            occurred_at=at,
            properties={},
        )
        db.session.add(event)
        db.session.flush()
    db.session.add(
        ScoreEntry(
            customer_id=customer.id,
            rule_key=rule_key,
            rule_version=1,
            points=points,
            scope=scope or "once",
            event_id=event.id if event else None,
            at=at,
            reason={},
        )
    )
    db.session.flush()


def _scored(team):
    delivery = team.send().delivery
    _award(team.customer, "senior_title", 15, minutes_ago=60)
    _award(
        team.customer,
        "pricing_viewed",
        20,
        delivery=delivery,
        event_type="link.opened",
        minutes_ago=30,
    )
    _award(team.customer, "no_reply_3d", -10, minutes_ago=10, scope="day:1")
    refresh_scores([team.customer.id])
    jobs.commit()
    return delivery


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_why_this_score_lists_each_rule_its_points_and_the_events(team, login, client, text_of):
    _scored(team)
    login(team.rep)
    text = text_of(client.get(f"/customers/{team.customer.id}"))
    why = _section(text, "为什么是这个分数", "已发送的资料")
    assert "25" in why
    assert "看了报价" in why and "+20" in why
    assert "“方案报价”" in why  # the document of the event behind the points
    assert "决策层职位" in why and "+15" in why
    assert "三天未回复" in why and "-10" in why
    assert why.index("看了报价") < why.index("决策层职位") < why.index("三天未回复")


def test_the_chart_has_a_point_per_ledger_change_and_the_grade_lines(team, login, client):
    _scored(team)
    login(team.rep)
    html = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    svg = html[
        html.index('<svg class="score-chart"') : html.index("</svg>", html.index("score-chart"))
    ]
    assert len(re.findall(r'<circle class="sc-pt"', svg)) == 3
    assert len(re.findall(r'class="sc-threshold ', svg)) == 2
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert ">30<" in svg and ">60<" in svg
    assert re.search(r'class="sc-line" d="M[\d. HV]+"', svg)


def test_a_customer_without_points_gets_a_friendly_note(team, login, client, text_of):
    login(team.rep)
    text = text_of(client.get(f"/customers/{team.customer.id}"))
    assert "还没有积分" in text
    assert "score-chart" not in client.get(f"/customers/{team.customer.id}").get_data(True)


def test_the_page_runs_the_same_queries_for_3_or_30_ledger_rows(team, login, client):
    delivery = team.send().delivery

    def award(start: int, count: int) -> None:
        for n in range(start, start + count):
            _award(
                team.customer,
                "long_read",
                1,
                delivery=delivery,
                event_type="doc.read",
                minutes_ago=100 - n,
                scope=f"s{n}",
            )
        jobs.commit()

    login(team.rep)
    award(0, 3)
    client.get(f"/customers/{team.customer.id}")  # creates the portal link
    with counted_statements() as few:
        html = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert html.count('class="sc-pt"') == 3
    award(3, 27)
    with counted_statements() as many:
        html = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert html.count('class="sc-pt"') == 30
    assert len(few) == len(many), "\n".join(many)


# --- suggested materials -----------------------------------------------------------------------


@pytest.fixture
def catalog(make_user):
    keywords.install_defaults()
    jobs.commit()
    marketing = make_user("marketing")
    rep = make_user("rep", team="华东")
    t = {
        "quote": make_template(marketing, name="制造业报价", industry="制造业"),
        "case": make_template(
            marketing, name="制造业客户案例", kind="case_study", industry="制造业", content_tags=""
        ),
        "case_medical": make_template(
            marketing, name="医疗案例", kind="case_study", industry="医疗", content_tags=""
        ),
        "case_secret": make_template(
            marketing,
            name="华南专属案例",
            kind="case_study",
            industry="制造业",
            content_tags="",
            allowed_teams=["华南"],
        ),
        "brochure": make_template(
            marketing, name="产品手册", kind="brochure", industry="制造业", content_tags=""
        ),
    }
    customer = make_customer(rep, industry="制造业")
    return rep, customer, t


def _ask(client, customer, text: str):
    html = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    return client.post(
        f"/customers/{customer.id}/recommend", data={"text": text, "csrf_token": csrf_token(html)}
    )


def _suggested(html: str) -> dict[int, str]:
    return {
        int(tid): body
        for tid, body in re.findall(r'<li class="rec" data-template="(\d+)">(.*?)</li>', html, re.S)
    }


def test_a_pasted_message_suggests_templates_with_reasons(catalog, login, client, text_of):
    rep, customer, t = catalog
    login(rep)
    response = _ask(client, customer, ASK)
    assert response.status_code == 200
    items = _suggested(response.get_data(as_text=True))
    assert set(items) == {t["quote"].id, t["case"].id}
    assert "制造业报价" in items[t["quote"].id] and "报价" in items[t["quote"].id]
    assert "案例" in items[t["case"].id]
    text = text_of(response)
    assert "华南专属案例" not in text  # restricted to another team: nowhere on the page
    suggested = _section(text, "推荐资料", "为什么是这个分数")
    assert "医疗案例" not in suggested  # another industry


def test_one_click_sends_the_suggested_template(catalog, login, client):
    rep, customer, t = catalog
    login(rep)
    html = _ask(client, customer, ASK).get_data(as_text=True)
    form = re.search(
        rf'<li class="rec" data-template="{t["quote"].id}">.*?<form method="post" '
        r'action="([^"]+)".*?</form>',
        html,
        re.S,
    )
    assert form
    action = form.group(1).split("#")[0]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields["template_id"] == str(t["quote"].id)
    before = db.session.scalar(select(func.count()).select_from(Delivery))
    response = client.post(action, data=fields)
    assert response.status_code == 302
    assert "/sent/" in response.headers["Location"]
    delivery = db.session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == before + 1
    assert (delivery.template_id, delivery.customer_id) == (t["quote"].id, customer.id)


def test_no_match_lists_the_words_it_understands(catalog, login, client, text_of):
    rep, customer, _ = catalog
    login(rep)
    response = _ask(client, customer, "周末愉快")
    assert response.status_code == 200
    text = text_of(response)
    assert "报价" in text and "案例" in text and "brochure" in text
    assert _suggested(response.get_data(as_text=True)) == {}


def test_an_empty_message_is_explained(catalog, login, client):
    rep, customer, _ = catalog
    login(rep)
    assert _ask(client, customer, "  ").status_code == 422


def test_the_single_keyword_quote_is_answered_on_the_page(catalog, login, client, text_of):
    rep, customer, t = catalog
    login(rep)
    items = _suggested(_ask(client, customer, "报价").get_data(as_text=True))
    assert set(items) == {t["quote"].id}

    # a customer of an industry without its own quote: the quote there is, said to be for 制造业
    retail = make_customer(rep, name="黄磊", industry="零售")
    response = _ask(client, retail, "报价")
    items = _suggested(response.get_data(as_text=True))
    assert set(items) == {t["quote"].id}
    assert "制造业" in text_of_html(items[t["quote"].id])
    assert "暂时没有与这条消息匹配的资料" not in text_of(response)


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
