"""The audit log: every audited staff action writes exactly one entry, with its actor and its
object, in the same transaction as the change; only admins read it; secrets never reach it."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.audit import service as audit
from portal.audit.labels import ACTION_LABELS
from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.engagement import rules
from portal.extensions import db
from portal.library import services as library
from portal.recommendations.models import KeywordRule
from portal.webhooks.models import Webhook
from tests.delivery.helpers import TWO_PAGE_HTML, make_delivery


def _mark() -> int:
    return db.session.scalar(select(func.max(AuditEntry.id))) or 0


def _since(mark: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(AuditEntry).where(AuditEntry.id > mark).order_by(AuditEntry.id))
    )


def _only(mark: int, action: str) -> AuditEntry:
    entries = _since(mark)
    assert [e.action for e in entries] == [action], [(e.action, e.summary) for e in entries]
    return entries[0]


def _visible(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="admin@example.com")


@pytest.fixture
def as_admin(admin, login, client):
    login(admin)
    return client


def test_every_action_has_a_label_in_both_languages():
    assert set(ACTION_LABELS) == set(audit.ACTIONS)


# --- one entry per audited action ----------------------------------------------------------------


def test_publishing_a_draft_is_logged_once(world, login, client):
    mark = _mark()
    library.add_version(
        world.template,
        world.marketing,
        filename="v2.html",
        data=TWO_PAGE_HTML.encode(),
        changelog="draft",
        publish=False,
    )
    jobs.commit()
    assert _since(mark) == []  # a draft is not published
    login(world.marketing)
    response = client.post(f"/library/{world.template.id}/versions/2/publish")
    assert response.status_code == 302
    entry = _only(mark, "template.published")
    assert entry.actor_id == world.marketing.id
    assert entry.actor_label == world.marketing.email
    assert (entry.object_type, entry.object_id) == ("templates", str(world.template.id))
    assert entry.details["version"] == 2
    assert entry.ip_hash  # from a request: the address, hashed


def test_a_template_created_through_the_api_is_logged_once(make_user, api_headers, client):
    marketing = make_user("marketing")
    headers = api_headers(marketing)
    mark = _mark()
    response = client.post(
        "/api/v1/templates",
        headers=headers,
        data={
            "file": (io.BytesIO(TWO_PAGE_HTML.encode()), "doc.html"),
            "name": "手册",
            "kind": "brochure",
            "changelog": "first",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    entry = _only(mark, "template.published")
    assert entry.actor_id == marketing.id
    assert entry.object_id == str(response.get_json()["id"])


def test_changing_who_may_send_is_logged_once_and_a_rename_is_not(world, login, client):
    login(world.marketing)
    mark = _mark()
    form = {"name": world.template.name, "kind": "quote", "allowed_teams": "华东, 华南"}
    assert client.post(f"/library/{world.template.id}/edit", data=form).status_code == 302
    entry = _only(mark, "template.access_changed")
    assert entry.actor_id == world.marketing.id
    assert entry.object_id == str(world.template.id)
    assert entry.details == {"before": [], "after": ["team:华东", "team:华南"]}

    mark = _mark()
    form["name"] = "改名后的报价"
    assert client.post(f"/library/{world.template.id}/edit", data=form).status_code == 302
    assert _since(mark) == []


def test_revoking_a_link_is_logged_once(world, api_headers, client):
    sent = make_delivery(world.rep, world.customer, world.template)
    headers = api_headers(world.rep)
    mark = _mark()
    assert (
        client.post(f"/api/v1/deliveries/{sent.delivery.id}/revoke", headers=headers).status_code
        == 200
    )
    entry = _only(mark, "delivery.revoked")
    assert entry.actor_id == world.rep.id
    assert (entry.object_type, entry.object_id) == ("deliveries", str(sent.delivery.id))
    # Revoking again changes nothing, so logs nothing.
    mark = _mark()
    assert (
        client.post(f"/api/v1/deliveries/{sent.delivery.id}/revoke", headers=headers).status_code
        == 200
    )
    assert _since(mark) == []


def test_changing_a_scoring_rule_is_logged_once(as_admin, admin):
    rules.install_defaults()
    jobs.commit()
    mark = _mark()
    form = {"points": "7", "cap": "50", "repeatable": "y", "enabled": "y"}
    assert as_admin.post("/admin/scoring/doc_opened", data=form).status_code == 302
    entry = _only(mark, "scoring_rule.changed")
    assert entry.actor_id == admin.id
    assert entry.summary.startswith("doc_opened v")
    assert entry.details["changes"]["points"] == 7
    mark = _mark()
    assert as_admin.post("/admin/scoring/doc_opened", data=form).status_code == 302
    assert _since(mark) == []  # nothing changed


def test_keyword_changes_are_logged_once_each(as_admin, admin):
    mark = _mark()
    response = as_admin.post("/admin/keywords", data={"keyword": "询价", "target": "kind:quote"})
    assert response.status_code == 302
    added = _only(mark, "keyword_rule.added")
    assert added.actor_id == admin.id and "询价" in added.summary
    rule = db.session.scalar(select(KeywordRule).where(KeywordRule.keyword == "询价"))
    mark = _mark()
    assert as_admin.post(f"/admin/keywords/{rule.id}/remove").status_code == 302
    removed = _only(mark, "keyword_rule.removed")
    assert removed.actor_id == admin.id and removed.object_id == str(rule.id)


def test_webhook_changes_are_logged_once_each_without_the_secret(as_admin, admin):
    mark = _mark()
    response = as_admin.post(
        "/admin/webhooks", data={"url": "https://hooks.example.com/x", "events": ["task.created"]}
    )
    assert response.status_code == 200
    created = _only(mark, "webhook.created")
    hook = db.session.scalar(select(Webhook))
    assert created.actor_id == admin.id and created.object_id == str(hook.id)
    assert hook.secret not in json.dumps(audit.as_json(created), ensure_ascii=False)
    mark = _mark()
    assert as_admin.post(f"/admin/webhooks/{hook.id}/remove").status_code == 302
    assert _only(mark, "webhook.removed").actor_id == admin.id


def test_user_changes_from_the_cli_are_logged_with_the_cli_as_actor(app, runner):
    mark = _mark()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "new@example.com",
            "--role",
            "rep",
            "--name",
            "新人",
            "--password",
            "new-hire-pass-42",  # password123 is on the common-password list now
            "--team",
            "华东",
        ]
    )
    assert result.exit_code == 0, result.output
    created = _only(mark, "user.created")
    assert (created.actor_id, created.actor_label) == (None, "cli")
    assert created.summary == "new@example.com"
    assert created.details["team"] == "华东"
    assert "password" not in json.dumps(created.details)
    assert "new-hire-pass-42" not in json.dumps(created.details)

    mark = _mark()
    result = runner.invoke(
        args=[
            "users",
            "set",
            "new@example.com",
            "--role",
            "supervisor",
            "--team",
            "华南",
            "--inactive",
        ]
    )
    assert result.exit_code == 0, result.output
    changed = _only(mark, "user.changed")
    assert changed.object_id == created.object_id
    assert changed.details == {
        "role": ["rep", "supervisor"],
        "team": ["华东", "华南"],
        "active": [True, False],
    }
    mark = _mark()
    assert runner.invoke(args=["users", "set", "new@example.com", "--inactive"]).exit_code == 0
    assert _since(mark) == []  # already inactive


def test_a_user_created_by_an_admin_names_the_admin(admin):
    from portal.accounts.services import create_user

    mark = _mark()
    user = create_user("x@example.com", name="X", role="rep", password="new-hire-pass-42", by=admin)
    jobs.commit()
    entry = _only(mark, "user.created")
    assert (entry.actor_id, entry.actor_label, entry.object_id) == (
        admin.id,
        admin.email,
        str(user.id),
    )


def test_an_api_token_is_logged_once_and_never_its_value(app, runner, admin, api_headers, client):
    mark = _mark()
    result = runner.invoke(args=["users", "token", admin.email, "--name", "crm"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    entry = _only(mark, "api_token.created")
    assert entry.actor_label == "cli"
    assert entry.summary == f"{admin.email}: crm"

    # The token (or any long piece of it) is nowhere in the log: not in the rows, not in the API.
    headers = {"Authorization": f"Bearer {token}"}
    api_headers(admin)  # a second token, through the service
    listing = client.get("/api/v1/audit?per_page=200", headers=headers).get_data(as_text=True)
    rows = json.dumps(
        [[*audit.as_json(e).values(), e.ip_hash] for e in _since(0)], ensure_ascii=False
    )
    secret_part = token.removeprefix("ptl_")
    for text in (listing, rows):
        assert "api_token.created" in text
        for start in range(0, len(secret_part) - 8):
            assert secret_part[start : start + 8] not in text


# --- same transaction ---------------------------------------------------------------------------


def test_a_change_rolled_back_leaves_no_entry(admin):
    rules.install_defaults()
    jobs.commit()
    mark = _mark()
    rules.update_rule("doc_opened", by=admin, points=9)
    db.session.rollback()
    assert _since(mark) == []
    assert rules.get_rule("doc_opened").points != 9


def test_a_refused_change_leaves_no_entry(as_admin):
    mark = _mark()
    response = as_admin.post("/admin/keywords", data={"keyword": "x" * 61, "target": "kind:quote"})
    assert response.status_code == 422
    assert _since(mark) == []


# --- who may read it ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["rep", "marketing", "supervisor"])
def test_only_admins_read_the_log(role, make_user, login, client, api_headers):
    user = make_user(role)
    assert client.get("/api/v1/audit", headers=api_headers(user)).status_code == 403
    login(user)
    assert client.get("/admin/audit").status_code == 403
    assert "user.created" not in client.get("/admin/audit").get_data(as_text=True)


def test_without_credentials_the_log_is_closed(client, admin):
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/v1/audit").status_code == 401


# --- reading it ---------------------------------------------------------------------------------


def _seed(admin, count: int) -> None:
    """count entries, one per hour back from now, alternating two actions."""
    now = utcnow()
    for n in range(count):
        entry = audit.record(
            "keyword_rule.added" if n % 2 else "webhook.created",
            admin,
            by=admin,
            summary=f"entry {n}",
        )
        entry.at = now - timedelta(hours=n)
    jobs.commit()


def test_the_admin_page_filters_pages_and_shows_newest_first(as_admin, admin, client):
    _seed(admin, 60)
    page = client.get("/admin/audit?action=webhook.created")
    assert page.status_code == 200
    text = _visible(page)
    assert "entry 0 " in text and "entry 1 " not in text
    assert text.index("entry 0 ") < text.index("entry 2 ")  # newest first
    assert "第 1 页，共 1 页" not in text  # 30 webhook entries + … fit on one page of 50

    first = _visible(client.get("/admin/audit"))
    second = _visible(client.get("/admin/audit?page=2"))
    # 60 seeded + the admin's own user.created: 61 entries, 50 on page one.
    assert "第 1 页，共 2 页" in first and "第 2 页，共 2 页" in second
    assert "entry 0 " in first and "entry 0 " not in second and "entry 59 " in second

    assert "entry 0 " not in _visible(client.get("/admin/audit?actor=nobody"))
    assert "entry 0 " in _visible(client.get("/admin/audit?actor=ADMIN@"))

    today = utcnow().date()
    old_only = _visible(client.get(f"/admin/audit?until={today - timedelta(days=2)}"))
    assert "entry 59 " in old_only and "entry 0 " not in old_only


def test_the_admin_page_speaks_both_languages(as_admin, admin, client):
    _seed(admin, 1)
    chinese = _visible(client.get("/admin/audit"))
    assert "审计日志" in chinese and "Webhook 已创建" in chinese
    client.post("/lang", data={"lang": "en", "next": "/admin/audit"})
    english = _visible(client.get("/admin/audit"))
    assert "Audit log" in english and "Webhook created" in english


def test_a_bad_date_on_the_page_is_a_clear_error(as_admin):
    response = as_admin.get("/admin/audit?since=yesterday")
    assert response.status_code == 422
    assert "YYYY-MM-DD" in _visible(response)


def test_the_api_lists_filters_and_pages(admin, api_headers, client):
    headers = api_headers(admin)
    _seed(admin, 5)
    everything = client.get("/api/v1/audit", headers=headers).get_json()
    assert everything["total"] == 7  # 5 seeded + user.created + api_token.created
    body = client.get("/api/v1/audit?action=webhook.created&per_page=2", headers=headers)
    body = body.get_json()
    assert body["total"] == 3 and body["page"] == 1
    assert [e["summary"] for e in body["items"]] == ["entry 0", "entry 2"]  # newest first
    assert body["items"][0]["actor"] == admin.email
    page_two = client.get(
        "/api/v1/audit?action=webhook.created&per_page=2&page=2", headers=headers
    ).get_json()
    assert [e["summary"] for e in page_two["items"]] == ["entry 4"]
    filtered = client.get("/api/v1/audit?action=api_token.created", headers=headers).get_json()
    assert [e["action"] for e in filtered["items"]] == ["api_token.created"]
    bad = client.get("/api/v1/audit?since=2026-13-01", headers=headers)
    assert bad.status_code == 422
    assert (bad.get_json()["error"]["code"], bad.get_json()["error"]["field"]) == (
        "bad_date",
        "since",
    )


def test_the_page_shows_what_changed_readably(as_admin, admin, make_user, client):
    from portal.accounts.services import change_user

    rep = make_user("rep")
    change_user(rep, by=admin, role="supervisor", team="华南")
    jobs.commit()
    text = _visible(client.get("/admin/audit?action=user.changed"))
    assert "role rep → supervisor" in text and "team — → 华南" in text
    assert "None" not in text
