"""Admin pages name rules, keyword targets and webhook states in words, never by their codes
(`pricing_viewed`, `kind:quote`, `delivered`, `delivery.opened`)."""

from __future__ import annotations

import re

import pytest

from portal import jobs
from portal.engagement import rules as scoring_rules
from portal.engagement.labels import RULE_LABELS
from portal.extensions import db
from portal.recommendations import keywords
from portal.webhooks.models import Webhook, WebhookDelivery

CODE = re.compile(r"\b(?:kind|tag):[a-z_]+\b|\b[a-z]+_[a-z_]+\b|\b[a-z]+\.[a-z_]+\b")


def visible(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def configured(app, admin):
    scoring_rules.install_defaults()
    keywords.install_defaults()
    hook = Webhook(url="https://hooks.example.com/portal", secret="s", events=["delivery.opened"])
    db.session.add(hook)
    db.session.flush()
    db.session.add(WebhookDelivery(webhook_id=hook.id, event="delivery.opened", status="failed"))
    jobs.commit()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("path", ["/admin/scoring", "/admin/keywords", "/admin/webhooks"])
def test_admin_pages_show_no_internal_codes(configured, as_admin, lang, path):
    as_admin.post("/lang", data={"lang": lang, "next": "/"})
    response = as_admin.get(path)
    assert response.status_code == 200
    text = visible(response)
    codes = {c for c in CODE.findall(text) if "@" not in c and not c.startswith("hooks.")}
    assert codes == set(), f"internal codes on {path}: {sorted(codes)}"


def test_the_labels_are_there_instead(configured, as_admin):
    text = visible(as_admin.get("/admin/keywords"))
    assert "类型：报价" in text and "内容标签：价格" in text
    text = visible(as_admin.get("/admin/webhooks"))
    assert "失败" in text and "客户打开了文档" in text
    text = visible(as_admin.get("/admin/scoring"))
    assert all(str(label) in text for label in RULE_LABELS.values())


def test_the_timeline_names_another_channels_activity_in_words(make_user, login, client):
    from portal.tracking.events import NewEvent, record_many
    from tests.delivery.helpers import make_customer

    rep = make_user("rep")
    customer = make_customer(rep)
    record_many([NewEvent(customer_id=customer.id, type="external.wecom_chat")])
    jobs.commit()
    login(rep)
    text = visible(client.get(f"/customers/{customer.id}"))
    assert "其他渠道的活动" in text
    assert "external.wecom_chat" not in text
