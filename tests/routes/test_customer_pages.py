"""The rep's customer pages: scoped lists, a new customer, the customer page with its
deliveries, read time per page, comment threads and timeline, in a constant number of queries."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.comments import add_customer_comment
from portal.extensions import db
from portal.jobs import commit
from portal.statement_count import counted_statements
from tests.routes.rep_support import (
    read_pages,
    team_fixture,  # noqa: F401  (the `team` fixture)
)


def _customer_links(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/customers/(\d+)"', html)}


# --- who sees which customer -------------------------------------------------------------------


def test_a_rep_lists_and_opens_only_their_own_customers(team, login, client, text_of):
    login(team.rep)
    page = client.get("/customers/")
    assert page.status_code == 200
    assert _customer_links(page.get_data(as_text=True)) == {team.customer.id}
    assert "张伟" in text_of(page)
    assert "王芳" not in text_of(page)

    assert client.get(f"/customers/{team.customer.id}").status_code == 200
    for other in (team.other_customer, team.stranger_customer):
        response = client.get(f"/customers/{other.id}")
        assert response.status_code == 404
        assert other.name not in text_of(response)
    assert client.get("/customers/999999").status_code == 404


def test_a_supervisor_sees_their_reps_customers_only(team, login, client, text_of):
    login(team.supervisor)
    html = client.get("/customers/").get_data(as_text=True)
    assert _customer_links(html) == {team.customer.id, team.other_customer.id}
    assert "Owner" in html or "负责人" in html  # the owner is shown to supervisors
    assert client.get(f"/customers/{team.other_customer.id}").status_code == 200
    assert client.get(f"/customers/{team.stranger_customer.id}").status_code == 404

    only_other = client.get(f"/customers/?owner={team.other_rep.id}").get_data(as_text=True)
    assert _customer_links(only_other) == {team.other_customer.id}


def test_search_by_name_or_company(team, login, client, make_user):
    login(team.supervisor)
    assert _customer_links(client.get("/customers/?q=杭州").get_data(as_text=True)) == {
        team.other_customer.id
    }
    assert _customer_links(client.get("/customers/?q=张").get_data(as_text=True)) == {
        team.customer.id
    }
    empty = client.get("/customers/?q=nobody")
    assert _customer_links(empty.get_data(as_text=True)) == set()


def test_marketing_sees_a_friendly_empty_page(team, login, client, text_of):
    login(team.marketing)
    page = client.get("/customers/")
    assert page.status_code == 200
    assert _customer_links(page.get_data(as_text=True)) == set()
    assert "资料库" in text_of(page)
    assert client.get(f"/customers/{team.customer.id}").status_code == 404
    assert client.get("/customers/new").status_code == 403
    nav = client.get("/").get_data(as_text=True)
    assert 'href="/customers/"' not in nav


def test_the_pages_need_a_sign_in(team, client):
    response = client.get(f"/customers/{team.customer.id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- a new customer -----------------------------------------------------------------------------


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Customer))


def test_a_rep_creates_their_own_customer(team, login, client, text_of):
    login(team.rep)
    form = client.get("/customers/new").get_data(as_text=True)
    assert 'name="owner"' not in form  # a rep owns what they create
    response = client.post(
        "/customers/new",
        data={
            "name": " 赵六 ",
            "company": "苏州机电",
            "title": "总经理",
            "email": "zhao@example.com",
        },
    )
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer).where(Customer.name == "赵六"))
    assert customer.owner_id == team.rep.id
    assert response.headers["Location"].endswith(f"/customers/{customer.id}")
    assert "苏州机电" in text_of(client.get(f"/customers/{customer.id}"))


def test_the_new_customer_form_explains_mistakes(team, login, client, text_of):
    login(team.rep)
    before = _count()
    response = client.post("/customers/new", data={"name": "  ", "company": "X"})
    assert response.status_code == 422
    response = client.post("/customers/new", data={"name": "赵六", "email": "not-an-address"})
    assert response.status_code == 422
    assert "请填写有效的邮箱" in text_of(response)  # the catalogue's invalid_email, on the field
    assert _count() == before


def test_a_supervisor_picks_one_of_their_reps_as_owner(team, login, client, text_of):
    login(team.supervisor)
    form = client.get("/customers/new").get_data(as_text=True)
    assert "rep2@example.com" in form
    assert "rep3@example.com" not in form  # another team's rep is not offered
    before = _count()
    forged = client.post("/customers/new", data={"name": "钱七", "owner": "rep3@example.com"})
    assert forged.status_code == 422
    assert _count() == before
    missing = client.post("/customers/new", data={"name": "钱七", "owner": ""})
    assert missing.status_code == 422
    response = client.post("/customers/new", data={"name": "钱七", "owner": "rep2@example.com"})
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer).where(Customer.name == "钱七"))
    assert customer.owner_id == team.other_rep.id


# --- the customer page -------------------------------------------------------------------------


def test_the_page_shows_deliveries_with_read_time_per_page(team, login, client, text_of):
    sent = team.send()
    read_pages(sent.delivery, {1: 12, 2: 47})
    team.send()  # a second one, never opened
    login(team.rep)

    response = client.get(f"/customers/{team.customer.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(response)
    assert text.count("方案报价") >= 2
    assert "尚未打开" in text  # the unopened one
    # the bar chart: every page labelled with its seconds and its content tags
    chart = html[html.index('class="bars"') :]
    chart = chart[: chart.index("</figure>")]
    assert re.search(r"第 1 页.*?12 秒", text_of_html(chart))
    assert re.search(r"第 2 页 · 价格.*?47 秒", text_of_html(chart))
    # widths sit in the chart's nonce'd <style> (no style attributes under the CSP)
    widths = dict(re.findall(r"#(bars-\d+-\d+)\{width: (\d+)%\}", chart))
    fills = re.findall(r'class="bar-fill" id="([^"]+)"', chart)
    assert [widths[fill] for fill in fills] == ["26", "100"]  # 12 / 47; the most-read is full
    assert "59 秒" in text  # read time in total
    # the link to copy: signed again for the page, so compare what it carries (the link id)
    shown = re.search(rf'id="link-{sent.delivery.id}"[^>]*>http://portal\.test/d/([^<]+)<', html)
    assert shown, "the personal link is shown"
    assert shown.group(1).split(".")[0] == sent.url.rsplit("/d/", 1)[1].split(".")[0]


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_comments_show_as_text_and_the_rep_replies(team, login, client, text_of):
    sent = team.send()
    add_customer_comment(
        team.customer.id, sent.delivery.id, "<b>价格</b>能否再优惠？<script>x()</script>"
    )
    commit()
    login(team.rep)

    html = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert "&lt;b&gt;价格&lt;/b&gt;能否再优惠？&lt;script&gt;x()&lt;/script&gt;" in html
    assert "<b>价格</b>" not in html
    assert "关于 v1" in text_of_html(html)  # the version the comment was about

    prefix = f"reply-{sent.delivery.id}-"
    assert f'name="{prefix}text"' in html
    empty = client.post(
        f"/customers/{team.customer.id}/deliveries/{sent.delivery.id}/reply",
        data={f"{prefix}text": "   "},
    )
    assert empty.status_code == 422
    response = client.post(
        f"/customers/{team.customer.id}/deliveries/{sent.delivery.id}/reply",
        data={f"{prefix}text": "可以，九折 <i>含税</i>"},
    )
    assert response.status_code == 302
    page = client.get(f"/customers/{team.customer.id}")
    assert "可以，九折 &lt;i&gt;含税&lt;/i&gt;" in page.get_data(as_text=True)
    assert "李雷" in text_of(page)  # the reply carries the rep's name


def test_nobody_replies_on_another_reps_delivery(team, login, client):
    sent = team.send()
    login(team.stranger)
    response = client.post(
        f"/customers/{team.customer.id}/deliveries/{sent.delivery.id}/reply",
        data={f"reply-{sent.delivery.id}-text": "hi"},
    )
    assert response.status_code == 404


def test_the_timeline_is_readable(team, login, client, text_of):
    sent = team.send(message="请查收报价")
    read_pages(sent.delivery, {1: 30})
    add_customer_comment(team.customer.id, sent.delivery.id, "付款方式？")
    commit()
    login(team.rep)
    text = text_of(client.get(f"/customers/{team.customer.id}"))
    timeline = text[text.index("时间线") :]
    assert "李雷 发送了“方案报价”" in timeline
    assert "阅读“方案报价”，共 30 秒 5分钟前" in timeline
    assert "评论了“方案报价”" in timeline
    assert "付款方式？" in timeline


def test_the_page_runs_the_same_queries_for_3_or_30_deliveries(team, login, client):
    def deliver(count: int) -> None:
        for n in range(count):
            sent = team.send()
            if n % 2 == 0:
                read_pages(sent.delivery, {1: 5, 2: 7})
            if n % 3 == 0:
                add_customer_comment(team.customer.id, sent.delivery.id, f"问题 {n}")
                commit()

    login(team.rep)
    deliver(3)
    client.get(f"/customers/{team.customer.id}")  # creates the portal link
    with counted_statements() as few:
        assert client.get(f"/customers/{team.customer.id}").status_code == 200
    deliver(27)
    with counted_statements() as many:
        response = client.get(f"/customers/{team.customer.id}")
    assert response.status_code == 200
    assert len(re.findall(r'<li class="dlv[^"]*" id="d\d+"', response.get_data(as_text=True))) == 30
    assert len(few) == len(many), "\n".join(many)
