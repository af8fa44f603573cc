"""The admin settings pages: scoring rules, keywords, webhooks, solution packs."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.engagement import rules
from portal.engagement.models import ScoreEntry, ScoringRule, ScoringRuleRevision
from portal.extensions import db
from portal.recommendations import keywords
from portal.recommendations.models import KeywordRule
from portal.recommendations.service import recommend
from portal.tasks.models import SolutionPack
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import EventType
from portal.webhooks.models import Webhook
from tests.delivery.helpers import make_customer, make_delivery, make_template

PAGES = [
    "/admin/users",
    "/admin/scoring",
    "/admin/scoring/doc_opened",
    "/admin/keywords",
    "/admin/webhooks",
    "/admin/solution-packs",
]


@pytest.fixture
def default_rules(app):
    rules.install_defaults()
    jobs.commit()
    return rules.load_rules()


def _rule_form(**overrides) -> dict:
    data = {"points": "5", "cap": "50", "repeatable": "y", "enabled": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("role", ["rep", "marketing", "supervisor"])
def test_only_admins_see_the_settings(role, make_user, login, client, default_rules):
    login(make_user(role))
    for page in PAGES:
        assert client.get(page).status_code == 403, page
    assert client.post("/admin/scoring/doc_opened", data=_rule_form(points="99")).status_code == 403
    assert (
        client.post("/admin/keywords", data={"keyword": "x", "target": "kind:quote"}).status_code
        == 403
    )
    assert client.post("/admin/webhooks", data={"url": "https://a.example"}).status_code == 403
    new_account = {"email": "x@example.com", "name": "X", "role": "admin", "password": "12345678"}
    assert client.post("/admin/users", data=new_account).status_code == 403
    assert rules.get_rule("doc_opened").points == 5
    assert db.session.scalar(select(func.count()).select_from(KeywordRule)) == 0
    assert "设置" not in client.get("/").get_data(as_text=True)


def test_signed_out_goes_to_login(client):
    assert client.get("/admin/scoring").status_code == 302


def test_admin_sees_every_page_and_the_nav_item(as_admin, default_rules, text_of):
    for page in PAGES:
        assert as_admin.get(page).status_code == 200, page
    text = text_of(as_admin.get("/admin/scoring"))
    assert "设置" in text
    for label in ("看了报价", "打开了资料", "决策层职位", "目标行业"):
        assert label in text


def test_editing_a_rule_makes_a_version_and_scores_the_next_event(
    as_admin, admin, default_rules, make_user, text_of
):
    response = as_admin.post("/admin/scoring/doc_opened", data=_rule_form(points="7", cap="70"))
    assert response.status_code == 302
    rule = rules.get_rule("doc_opened")
    assert (rule.points, rule.cap, rule.version, rule.updated_by_id) == (7, 70, 2, admin.id)
    revisions = rules.revisions("doc_opened")
    assert [(r.version, r.points, r.by_id) for r in revisions] == [(1, 5, None), (2, 7, admin.id)]

    page = text_of(as_admin.get("/admin/scoring/doc_opened"))
    assert "v2" in page and "管理员 老李" in page

    marketing = make_user("marketing")
    rep = make_user("rep")
    customer = make_customer(rep, title="工程师", industry="零售")
    delivery = make_delivery(rep, customer, make_template(marketing)).delivery
    record_many(
        [NewEvent(customer_id=customer.id, type=EventType.LINK_OPENED, delivery_id=delivery.id)]
    )
    jobs.commit()
    entry = db.session.scalar(
        select(ScoreEntry).where(
            ScoreEntry.customer_id == customer.id, ScoreEntry.rule_key == "doc_opened"
        )
    )
    assert (entry.points, entry.rule_version) == (7, 2)


def test_unchanged_submit_makes_no_version(as_admin, default_rules):
    as_admin.post("/admin/scoring/doc_opened", data=_rule_form())
    assert rules.get_rule("doc_opened").version == 1


def test_params_are_typed_fields(as_admin, default_rules, text_of):
    """Issue 11: parameters are form fields per rule (numbers, word lists, kinds), not JSON."""
    page = as_admin.get("/admin/scoring/pricing_viewed").get_data(as_text=True)
    assert 'name="params"' not in page  # no raw JSON box
    assert re.search(r'name="param_tags"[^>]*value="pricing"', page)
    assert re.search(r'<input[^>]*checked[^>]*name="param_kinds"[^>]*value="quote"', page) or (
        re.search(r'<input[^>]*name="param_kinds"[^>]*value="quote"[^>]*checked', page)
    )
    assert "页面标签" in text_of(as_admin.get("/admin/scoring/pricing_viewed"))

    cases = {
        "long_read": ({"param_min_seconds": "90"}, {"min_seconds": 90}),
        "deep_read": ({"param_ratio": "75"}, {"ratio": 0.75}),
        "senior_title": (
            {"param_words": "总经理\nCEO, 采购负责人、总经理"},
            {"words": ["总经理", "CEO", "采购负责人"]},
        ),
        "pricing_viewed": (
            {"param_tags": "pricing， terms", "param_kinds": ["quote", "solution"]},
            {"tags": ["pricing", "terms"], "kinds": ["quote", "solution"]},
        ),
        "frequent_interaction": (
            {"param_count": "6", "param_days": "10"},
            {"count": 6, "days": 10},
        ),
        "target_industry": (
            {"param_industries": "制造业, 医疗"},
            {"industries": ["制造业", "医疗"]},
        ),
    }
    for key, (fields, expected) in cases.items():
        rule = rules.get_rule(key)
        data = _rule_form(points=str(rule.points), cap=str(rule.cap), params=None, **fields)
        response = as_admin.post(f"/admin/scoring/{key}", data=data)
        assert response.status_code == 302, (key, text_of(response))
        assert rules.get_rule(key).params == expected, key
    text = text_of(as_admin.get("/admin/scoring/deep_read"))
    assert "已读页面比例（%）：75 %" in text  # the history in words, not JSON


@pytest.mark.parametrize(
    ("key", "fields", "field", "error"),
    [
        ("long_read", {"param_min_seconds": "abc"}, "param_min_seconds", "请输入 1 到 86400"),
        ("long_read", {"param_min_seconds": ""}, "param_min_seconds", "请输入整数"),
        ("deep_read", {"param_ratio": "150"}, "param_ratio", "请输入 1 到 100 之间的整数"),
        ("no_reply_3d", {"param_days": "0"}, "param_days", "请输入 1 到 365 之间的整数"),
        ("pricing_viewed", {"param_kinds": ["poster"]}, "param_kinds", ""),
    ],
)
def test_a_bad_parameter_is_shown_on_its_field(as_admin, default_rules, key, fields, field, error):
    before = rules.get_rule(key)
    data = _rule_form(points=str(before.points), cap=str(before.cap), params=None, **fields)
    response = as_admin.post(f"/admin/scoring/{key}", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    shown = re.search(rf'<div class="field-error" id="{field}-error">(.*?)</div>', html, re.S)
    assert shown, f"no error on {field}"
    assert error in shown.group(1)
    after = rules.get_rule(key)
    assert (after.version, after.params) == (before.version, before.params)


@pytest.mark.parametrize(
    "lang, label", [("zh_CN", "最短阅读时长（秒）"), ("en", "Minimum reading time")]
)
def test_parameter_fields_in_both_languages(as_admin, default_rules, text_of, lang, label):
    as_admin.post("/lang", data={"lang": lang, "next": "/"})
    assert label in text_of(as_admin.get("/admin/scoring/long_read"))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"cap": "-5"}, "封顶"),
        ({"points": "abc"}, "分值"),
        ({"points": "5000"}, "分值"),
    ],
)
def test_bad_input_changes_nothing_and_keeps_what_was_typed(
    as_admin, default_rules, overrides, error, text_of
):
    data = _rule_form(**{"points": "8", **overrides})
    response = as_admin.post("/admin/scoring/doc_opened", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "field-error" in html or "alert-error" in html
    assert error in text_of(response)
    rule = rules.get_rule("doc_opened")
    assert (rule.points, rule.cap, rule.version) == (5, 50, 1)
    assert db.session.scalar(select(func.count()).select_from(ScoringRuleRevision)) == len(
        rules.DEFAULT_RULES
    )
    typed = overrides.get("cap") or overrides.get("points") or "8"
    assert typed in html


def test_keyword_add_and_remove_change_recommendations(as_admin, make_user):
    marketing = make_user("marketing")
    rep = make_user("rep")
    template = make_template(marketing)  # a quote
    customer = make_customer(rep)
    assert recommend(rep, customer, "请发一下 offerte") == []

    response = as_admin.post(
        "/admin/keywords", data={"keyword": " Offerte ", "target": "kind:quote"}
    )
    assert response.status_code == 302
    assert [r.template.id for r in recommend(rep, customer, "请发一下 offerte")] == [template.id]

    rule = db.session.scalar(select(KeywordRule).where(KeywordRule.keyword == "offerte"))
    assert "offerte" in as_admin.get("/admin/keywords").get_data(as_text=True)
    assert as_admin.get(f"/admin/keywords/{rule.id}/remove").status_code == 405
    assert as_admin.post(f"/admin/keywords/{rule.id}/remove").status_code == 302
    assert recommend(rep, customer, "请发一下 offerte") == []
    assert keywords.list_rules() == []


def test_bad_keyword_target_is_a_form_error(as_admin):
    response = as_admin.post("/admin/keywords", data={"keyword": "x", "target": "kind:nope"})
    assert response.status_code == 422
    assert keywords.list_rules() == []


def test_webhook_secret_is_shown_once(as_admin, admin):
    response = as_admin.post(
        "/admin/webhooks",
        data={"url": "https://crm.example.com/hook", "events": ["delivery.opened", "task.created"]},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    hook = db.session.scalar(select(Webhook))
    assert hook.url == "https://crm.example.com/hook"
    assert hook.events == ["delivery.opened", "task.created"]
    assert hook.created_by_id == admin.id
    assert re.fullmatch(r"[0-9a-f]{64}", hook.secret)
    assert hook.secret in response.get_data(as_text=True)

    listing = as_admin.get("/admin/webhooks").get_data(as_text=True)
    assert "https://crm.example.com/hook" in listing
    assert hook.secret not in listing

    assert as_admin.post(f"/admin/webhooks/{hook.id}/remove").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0


def test_bad_webhook_is_a_form_error(as_admin):
    response = as_admin.post("/admin/webhooks", data={"url": "ftp://x.example", "events": []})
    assert response.status_code == 422
    assert "ftp://x.example" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0


def test_solution_pack_set_and_remove(as_admin, make_user, text_of):
    marketing = make_user("marketing")
    solution = make_template(marketing, name="制造业整体方案", kind="solution", content_tags="")
    make_template(marketing, name="别的报价")
    page = as_admin.get("/admin/solution-packs").get_data(as_text=True)
    assert "制造业整体方案" in page and "别的报价" not in page

    response = as_admin.post(
        "/admin/solution-packs", data={"industry": "制造业", "template_id": str(solution.id)}
    )
    assert response.status_code == 302
    pack = db.session.scalar(select(SolutionPack))
    assert (pack.industry, pack.template_id) == ("制造业", solution.id)
    assert "制造业整体方案" in text_of(as_admin.get("/admin/solution-packs"))

    other = make_template(marketing, name="第二方案", kind="solution", content_tags="")
    as_admin.post(
        "/admin/solution-packs", data={"industry": "制造业", "template_id": str(other.id)}
    )
    db.session.expire_all()
    assert [p.template_id for p in db.session.scalars(select(SolutionPack))] == [other.id]

    assert as_admin.post(f"/admin/solution-packs/{pack.id}/remove").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(SolutionPack)) == 0


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    @staticmethod
    def _token(html: str) -> str:
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert match
        return match.group(1)

    def _sign_in(self, client, user) -> None:
        token = self._token(client.get("/login").get_data(as_text=True))
        data = {"email": user.email, "password": "password123", "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302

    def test_posts_without_a_token_are_refused(self, client, admin, default_rules):
        self._sign_in(client, admin)
        keywords.add_rule("报价", "kind:quote")
        jobs.commit()
        rule_id = db.session.scalar(select(KeywordRule.id))
        assert (
            client.post("/admin/scoring/doc_opened", data=_rule_form(points="9")).status_code == 400
        )
        assert (
            client.post(
                "/admin/keywords", data={"keyword": "x", "target": "kind:quote"}
            ).status_code
            == 400
        )
        assert client.post(f"/admin/keywords/{rule_id}/remove").status_code == 400
        assert (
            client.post(
                "/admin/webhooks", data={"url": "https://a.example", "events": ["task.created"]}
            ).status_code
            == 400
        )
        db.session.expire_all()
        assert db.session.get(ScoringRule, rules.get_rule("doc_opened").id).version == 1
        assert [r.keyword for r in keywords.list_rules()] == ["报价"]
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0

        token = self._token(client.get("/admin/scoring/doc_opened").get_data(as_text=True))
        response = client.post(
            "/admin/scoring/doc_opened", data={**_rule_form(points="9"), "csrf_token": token}
        )
        assert response.status_code == 302
        assert rules.get_rule("doc_opened").version == 2
