"""Company accounts: matching contacts to accounts, scoping, the API's shapes and the pages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.companies.contacts import add_contact
from portal.companies.models import Account
from portal.customers.models import Customer
from portal.customers.services import CustomerFields
from portal.deals import services as deal_services
from portal.deals.evidence import EvidenceInput
from portal.errors import NotFound
from portal.exchange.importing import run_import
from portal.exchange.reading import SheetLimits
from portal.extensions import db
from portal.read_models import accounts as overview
from tests.delivery.helpers import make_customer
from tests.exchange.sheets import CUSTOMER_HEADER, xlsx
from tests.routes.rep_support import (
    read_pages,
    team_fixture,  # noqa: F401  (the `team` fixture)
)


def _accounts() -> int:
    return db.session.scalar(select(func.count()).select_from(Account))


def _deal(user, customer, title="MES 项目"):
    deal = deal_services.create_deal(
        user,
        deal_services.DealFields(
            customer_id=customer.id, title=title, amount="100000", expected_close=date(2027, 3, 1)
        ),
        EvidenceInput(stage="initial_contact", note="首次拜访纪要"),
    )
    jobs.commit()
    return deal


# --- matching ----------------------------------------------------------------------------------


def test_spellings_of_one_company_in_one_team_share_an_account(team):
    # team.customer is 张伟 of 华东精密制造 (rep); other_rep has the same supervisor (team)
    a = make_customer(team.rep, name="李四", company="  华东精密制造 ", email="li4@example.com")
    b = make_customer(team.other_rep, name="赵六", company="华东精密制造", email="z6@example.com")
    wide = make_customer(team.rep, name="Bob", company="ＡＣＭＥ  Ltd", email="b@example.com")
    narrow = make_customer(team.rep, name="Amy", company="acme ltd", email="a@example.com")
    assert team.customer.account_id is not None
    assert a.account_id == b.account_id == team.customer.account_id
    assert wide.account_id == narrow.account_id != team.customer.account_id
    assert team.customer.account.name == "华东精密制造"  # the first spelling, tidied


def test_another_team_and_no_company_get_no_shared_account(team):
    theirs = make_customer(team.stranger, name="孙七", company="华东精密制造", email="s7@x.com")
    nobody = make_customer(team.rep, name="散客", company="  ", email="n@example.com")
    assert theirs.account_id is not None and theirs.account_id != team.customer.account_id
    assert nobody.account_id is None


def test_add_contact_joins_the_given_account_whatever_the_company_typed(team):
    account = team.customer.account
    before = _accounts()
    visitor = add_contact(account, team.rep, CustomerFields(name="转发读者", company="华东精密"))
    unnamed = add_contact(account, team.rep, CustomerFields(name="无名"))
    jobs.commit()
    assert visitor.account_id == unnamed.account_id == account.id
    assert unnamed.company == account.name
    assert _accounts() == before


# --- the import fills accounts -----------------------------------------------------------------


def test_the_import_fills_accounts_and_an_updated_company_moves_the_contact(app, team):
    limits = SheetLimits()
    owner = team.rep.email
    rows = [
        CUSTOMER_HEADER,
        ["王伟", "华东精密制造", "采购总监", "wang@hd.cn", "", "", "", owner],
        ["李娜", "华东精密制造\u3000", "CTO", "lina@hd.cn", "", "", "", owner],
        ["钱八", "西部能源", "", "qian@xb.cn", "", "", "", owner],
    ]
    with app.test_request_context("/"):
        report = run_import(team.rep, "customers", xlsx(rows), apply=True, limits=limits)
        db.session.commit()
        assert report.summary["create"] == 3, report.to_json()
        by_email = {
            c.email: c
            for c in db.session.scalars(select(Customer).where(Customer.email.like("%.cn")))
        }
        assert by_email["wang@hd.cn"].account_id == team.customer.account_id
        assert by_email["lina@hd.cn"].account_id == team.customer.account_id
        west = by_email["qian@xb.cn"].account_id
        assert west not in (None, team.customer.account_id)

        moved = [CUSTOMER_HEADER, ["钱八", "华东精密制造", "", "qian@xb.cn", "", "", "", owner]]
        report = run_import(team.rep, "customers", xlsx(moved), apply=True, limits=limits)
        db.session.commit()
    assert report.summary["update"] == 1, report.to_json()
    qian = db.session.scalar(select(Customer).where(Customer.email == "qian@xb.cn"))
    assert qian.account_id == team.customer.account_id
    assert db.session.get(Account, west) is None  # left with no contact: gone


# --- scoping -----------------------------------------------------------------------------------


def test_a_rep_sees_only_their_contacts_of_an_account_and_never_another_teams(team):
    mine = make_customer(team.rep, name="李四", email="li4@example.com")
    colleague = make_customer(team.other_rep, name="赵六", email="z6@example.com")
    account_id = team.customer.account_id
    assert mine.account_id == colleague.account_id == account_id

    rep_view = overview.account_page(team.rep, account_id)
    assert {c.customer.id for c in rep_view.contacts} == {team.customer.id, mine.id}
    boss_view = overview.account_page(team.supervisor, account_id)
    assert {c.customer.id for c in boss_view.contacts} == {team.customer.id, mine.id, colleague.id}
    with pytest.raises(NotFound):
        overview.account_page(team.stranger, account_id)
    with pytest.raises(NotFound):
        overview.account_page(team.marketing, account_id)
    listed = overview.list_accounts(team.stranger, {})
    assert account_id not in [row.account.id for row in listed.items]


# --- the API -----------------------------------------------------------------------------------


def test_api_lists_accounts_paged_and_scoped(client, team, api_headers):
    for n in range(3):
        make_customer(team.rep, name=f"客户{n}", company=f"公司{n}", email=f"c{n}@example.com")
    headers = api_headers(team.rep)
    first = client.get("/api/v1/accounts?per_page=2", headers=headers).get_json()
    second = client.get("/api/v1/accounts?per_page=2&page=2", headers=headers).get_json()
    assert first["total"] == second["total"] == 4  # 华东精密制造 and 公司0..2
    assert (first["page"], first["per_page"], len(first["items"]), len(second["items"])) == (
        1,
        2,
        2,
        2,
    )
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 4
    item = first["items"][0]
    assert set(item) >= {"id", "name", "engagement"}
    assert set(item["engagement"]) >= {"contacts", "score_sum", "score_max", "last_activity_at"}
    searched = client.get("/api/v1/accounts?q=精密", headers=headers).get_json()
    assert [i["id"] for i in searched["items"]] == [team.customer.account_id]
    bad = client.get("/api/v1/accounts?per_page=0", headers=headers)
    assert bad.status_code == 422
    assert (bad.get_json()["error"]["code"], bad.get_json()["error"]["field"]) == (
        "number_out_of_range",
        "per_page",
    )
    theirs = client.get("/api/v1/accounts", headers=api_headers(team.stranger)).get_json()
    assert team.customer.account_id not in [i["id"] for i in theirs["items"]]


def test_api_account_has_contacts_with_scores_reading_engagement_and_deals(
    client, team, api_headers
):
    colleague = make_customer(team.rep, name="李四", email="li4@example.com")
    colleague.score = 42
    sent = team.send()
    read_pages(sent.delivery, {1: 30, 2: 45})
    deal = _deal(team.rep, colleague)
    jobs.commit()
    account_id = team.customer.account_id
    headers = api_headers(team.rep)

    body = client.get(f"/api/v1/accounts/{account_id}", headers=headers).get_json()
    assert body["id"] == account_id and body["name"] == "华东精密制造"
    contacts = {c["id"]: c for c in body["contacts"]}
    assert set(contacts) == {team.customer.id, colleague.id}
    zhang = contacts[team.customer.id]
    assert zhang["read_seconds"] == 75 and zhang["opens"] == 1
    assert zhang["documents"][0]["delivery_id"] == sent.delivery.id
    assert zhang["documents"][0]["read_seconds"] == 75
    assert zhang["documents"][0]["last_seen_at"] is not None
    scores = [team.customer.score, 42]
    engagement = body["engagement"]
    assert engagement["score_sum"] == sum(scores) and engagement["score_max"] == max(scores)
    assert engagement["read_seconds"] == 75 and engagement["contacts"] == 2
    assert engagement["last_activity_at"] is not None
    assert [d["id"] for d in body["deals"]] == [deal.id]
    assert body["deals"][0]["customer_id"] == colleague.id

    customer = client.get(f"/api/v1/customers/{team.customer.id}", headers=headers).get_json()
    assert customer["account_id"] == account_id
    loose = make_customer(team.rep, name="散客", company="", email="n@example.com")
    loose_json = client.get(f"/api/v1/customers/{loose.id}", headers=headers).get_json()
    assert loose_json["account_id"] is None

    other = client.get(f"/api/v1/accounts/{account_id}", headers=api_headers(team.stranger))
    missing = client.get("/api/v1/accounts/987654", headers=api_headers(team.stranger))
    assert other.status_code == missing.status_code == 404
    assert other.get_json() == missing.get_json()


def test_openapi_documents_the_account_routes_and_account_id(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "get" in spec["paths"]["/accounts"] and "get" in spec["paths"]["/accounts/{account_id}"]
    assert "account_id" in spec["components"]["schemas"]["Customer"]["properties"]


# --- the pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh", ["采购委员会", "进行中商机", "合计得分"]),
        ("en", ["Buying committee", "Open deals"]),
    ],
)
def test_account_page_shows_the_committee_reading_and_deals(client, login, team, lang, words):
    colleague = make_customer(team.rep, name="李四", email="li4@example.com")
    sent = team.send()
    read_pages(sent.delivery, {1: 30, 2: 45})
    _deal(team.rep, colleague, title="产线追溯项目")
    login(team.rep)
    client.post("/lang", data={"lang": lang})
    response = client.get(f"/accounts/{team.customer.account_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ["华东精密制造", "张伟", "李四", "方案报价", "产线追溯项目", *words]:
        assert text in html, text
    assert "1\u00a0min\u00a015\u00a0s" in html or "1\u00a0分\u00a015\u00a0秒" in html


def test_account_page_is_a_404_for_another_team(client, login, team):
    login(team.stranger)
    assert client.get(f"/accounts/{team.customer.account_id}").status_code == 404
    assert client.get("/accounts/987654").status_code == 404


def test_customer_list_groups_by_account_on_request(client, login, team):
    make_customer(team.rep, name="李四", email="li4@example.com")
    make_customer(team.rep, name="散客", company="", email="n@example.com")
    login(team.rep)
    flat = client.get("/customers/").get_data(as_text=True)
    grouped = client.get("/customers/?group=account").get_data(as_text=True)
    link = f"/accounts/{team.customer.account_id}"
    assert link not in flat
    assert link in grouped
    head = grouped.index(link)
    assert head < grouped.index("张伟") and head < grouped.index("李四")
    assert grouped.index("李四") < grouped.index("散客")  # no company: last
    assert 'name="group" value="account"' in grouped  # a search keeps the grouping


def test_a_customers_page_links_to_their_account(client, login, team):
    loose = make_customer(team.rep, name="散客", company="", email="n@example.com")
    login(team.rep)
    page = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert f"/accounts/{team.customer.account_id}" in page
    assert "/accounts/" not in client.get(f"/customers/{loose.id}").get_data(as_text=True)


def test_the_account_page_costs_the_same_queries_for_a_bigger_committee(client, login, team):
    from portal.statement_count import counted_statements

    login(team.rep)
    url = f"/accounts/{team.customer.account_id}"

    def grow(n: int) -> None:
        for i in range(n):
            contact = make_customer(team.rep, name=f"成员{n}{i}", email=f"m{n}{i}@example.com")
            read_pages(team.send(contact).delivery, {1: 10})
            _deal(team.rep, contact, title=f"商机{n}{i}")

    grow(1)
    with counted_statements() as small:
        assert client.get(url).status_code == 200
    grow(4)
    with counted_statements() as big:
        html = client.get(url).get_data(as_text=True)
    assert "商机43" in html  # the bigger committee is on the page
    assert len(big) == len(small), big
