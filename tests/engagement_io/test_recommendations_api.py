"""POST /api/v1/recommendations: templates for a customer's chat message, with reasons."""

from __future__ import annotations

import pytest

from portal import jobs
from portal.library import services as library
from portal.recommendations import keywords
from tests.delivery.helpers import make_customer, make_template

URL = "/api/v1/recommendations"
ASK = "你好,能发一下报价和类似客户的案例吗?"


@pytest.fixture
def catalog(make_user, default_keywords):
    marketing = make_user("marketing")
    rep = make_user("rep", team="华东")
    t = {
        "quote": make_template(marketing, name="制造业报价", industry="制造业"),
        "case": make_template(
            marketing, name="制造业客户案例", kind="case_study", industry="制造业", content_tags=""
        ),
        "case_any": make_template(marketing, name="通用案例集", kind="case_study", content_tags=""),
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
        "priced_solution": make_template(
            marketing, name="方案含价格页", kind="solution", industry="制造业"
        ),  # page 2 tagged pricing
    }
    customer = make_customer(rep, industry="制造业")
    return marketing, rep, customer, t


def test_quote_and_case_studies_of_the_customers_industry_with_reasons(
    client, api_headers, catalog
):
    _, rep, customer, t = catalog
    response = client.post(
        URL, json={"customer_id": customer.id, "text": ASK}, headers=api_headers(rep)
    )
    assert response.status_code == 200, response.json
    items = response.json["items"]
    by_id = {item["template_id"]: item for item in items}
    assert set(by_id) == {
        t["quote"].id,
        t["case"].id,
        t["case_any"].id,
        t["priced_solution"].id,
    }
    assert by_id[t["quote"].id]["reason"] == "报价"
    assert by_id[t["quote"].id]["name"] == "制造业报价"
    assert by_id[t["case"].id]["reason"] == "案例"
    assert by_id[t["priced_solution"].id]["reason"] == "报价"  # its pricing-tagged page
    # newest first
    assert [i["template_id"] for i in items] == sorted(by_id, reverse=True)
    assert set(items[0]) >= {"template_id", "name", "reason"}


def test_a_template_the_rep_may_not_send_never_appears(client, api_headers, catalog):
    _, rep, customer, t = catalog
    for text in (ASK, "案例", "客户案例 case reference", "华南专属案例"):
        items = client.post(
            URL, json={"customer_id": customer.id, "text": text}, headers=api_headers(rep)
        ).json["items"]
        assert t["case_secret"].id not in {i["template_id"] for i in items}
        assert t["case_medical"].id not in {i["template_id"] for i in items}


def test_every_matched_word_is_in_the_reason_once(client, api_headers, catalog):
    _, rep, customer, t = catalog
    items = client.post(
        URL,
        json={"customer_id": customer.id, "text": "客户案例发我，还有别的案例和 case study 吗"},
        headers=api_headers(rep),
    ).json["items"]
    reasons = {i["template_id"]: i["reason"] for i in items}
    assert reasons[t["case"].id] == "客户案例, 案例, case"


def test_english_messages_work_too(client, api_headers, catalog):
    _, rep, customer, t = catalog
    items = client.post(
        URL,
        json={"customer_id": customer.id, "text": "Hi, what is the PRICE? Any brochure?"},
        headers=api_headers(rep),
    ).json["items"]
    reasons = {i["template_id"]: i["reason"] for i in items}
    assert reasons[t["quote"].id] == "price"
    assert reasons[t["brochure"].id] == "brochure"
    assert t["case"].id not in reasons


def test_archived_templates_and_no_keywords_give_nothing(client, api_headers, catalog):
    marketing, rep, customer, t = catalog
    library.set_archived(t["quote"], marketing, True)
    jobs.commit()
    headers = api_headers(rep)
    items = client.post(URL, json={"customer_id": customer.id, "text": "报价"}, headers=headers)
    assert t["quote"].id not in {i["template_id"] for i in items.json["items"]}
    empty = client.post(URL, json={"customer_id": customer.id, "text": "你好"}, headers=headers)
    assert empty.status_code == 200 and empty.json == {"items": []}


def test_an_admin_edits_the_keyword_map(client, api_headers, catalog, runner):
    _, rep, customer, t = catalog
    headers = api_headers(rep)
    body = {"customer_id": customer.id, "text": "有没有白皮书"}
    assert client.post(URL, json=body, headers=headers).json["items"] == []
    result = runner.invoke(args=["keywords", "add", "白皮书", "kind:brochure"])
    assert result.exit_code == 0, result.output
    items = client.post(URL, json=body, headers=headers).json["items"]
    assert [(i["template_id"], i["reason"]) for i in items] == [(t["brochure"].id, "白皮书")]
    assert "白皮书\tkind:brochure\ton" in runner.invoke(args=["keywords", "list"]).output
    assert runner.invoke(args=["keywords", "remove", "报价"]).exit_code == 0
    left = client.post(URL, json={"customer_id": customer.id, "text": "报价"}, headers=headers)
    assert left.json["items"] == []
    bad = runner.invoke(args=["keywords", "add", "x", "kind:poster"])
    assert bad.exit_code != 0 and "target must be" in bad.output
    assert runner.invoke(args=["keywords", "remove", "不存在"]).exit_code != 0
    assert keywords.install_defaults() == [("报价", "kind:quote"), ("报价", "tag:pricing")]


def test_another_reps_customer_is_not_found(client, api_headers, catalog, make_user):
    _, _, customer, _ = catalog
    other = make_user("rep")
    for customer_id in (customer.id, 999_999):
        response = client.post(
            URL, json={"customer_id": customer_id, "text": ASK}, headers=api_headers(other)
        )
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "required", "customer_id"),
        ({"customer_id": "1", "text": "报价"}, "not_an_integer", "customer_id"),
        ({"customer_id": 1}, "required", "text"),
        ({"customer_id": 1, "text": " "}, "required", "text"),
    ],
)
def test_bad_bodies_are_422(client, api_headers, catalog, body, code, field):
    _, rep, _, _ = catalog
    response = client.post(URL, json=body, headers=api_headers(rep))
    assert response.status_code == 422
    assert (response.json["error"]["code"], response.json["error"]["field"]) == (code, field)


def test_no_token_is_401(client):
    assert client.post(URL, json={"customer_id": 1, "text": "报价"}).status_code == 401


def test_a_single_keyword_finds_the_quote_even_outside_the_customers_industry(
    client, api_headers, catalog
):
    _, rep, customer, t = catalog
    headers = api_headers(rep)
    items = client.post(URL, json={"customer_id": customer.id, "text": "报价"}, headers=headers)
    assert {i["template_id"] for i in items.json["items"]} == {
        t["quote"].id,
        t["priced_solution"].id,
    }
    assert not any(i["other_industry"] for i in items.json["items"])

    # a customer whose industry has no quote of its own: the quotes there are, marked
    medical = make_customer(rep, name="孙丽", industry="医疗")
    items = client.post(URL, json={"customer_id": medical.id, "text": "报价"}, headers=headers)
    found = {i["template_id"]: i for i in items.json["items"]}
    assert set(found) == {t["quote"].id, t["priced_solution"].id}
    assert all(i["other_industry"] and i["reason"] == "报价" for i in found.values())
    # where the customer's industry has a match, other industries stay out
    cases = client.post(URL, json={"customer_id": medical.id, "text": "案例"}, headers=headers)
    assert {i["template_id"] for i in cases.json["items"]} == {
        t["case_any"].id,
        t["case_medical"].id,
    }
