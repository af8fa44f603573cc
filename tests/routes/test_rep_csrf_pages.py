"""With CSRF protection on (as in production), the rep's forms carry working tokens and a post
without one changes nothing: send, withdraw, reply, new customer, mark notifications read."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.comments import add_customer_comment
from portal.delivery.models import Comment, Delivery
from portal.extensions import db
from portal.jobs import commit
from portal.notifications.models import Notification
from portal.notifications.services import notify
from tests.routes.rep_support import (
    csrf_token,
    team_fixture,  # noqa: F401  (the `team` fixture)
)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _sign_in(client, user) -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": user.email, "password": "password123", "csrf_token": token}
    )
    assert response.status_code == 302


def _form(html: str, action: str) -> str:
    start = html.index(f'action="{action}')  # an #anchor may follow
    return html[start : html.index("</form>", start)]


def test_send_needs_its_token(team, client):
    _sign_in(client, team.rep)
    page = f"/customers/{team.customer.id}"
    action = f"{page}/send"
    data = {"template_id": team.template.id, "allow_download": "y"}
    assert client.post(action, data=data).status_code == 400
    assert _count(Delivery) == 0

    token = csrf_token(_form(client.get(page).get_data(as_text=True), action))
    assert client.post(action, data={**data, "csrf_token": token}).status_code == 302
    assert _count(Delivery) == 1


def test_revoke_needs_its_token(team, client):
    sent = team.send()
    _sign_in(client, team.rep)
    page = f"/customers/{team.customer.id}"
    action = f"{page}/deliveries/{sent.delivery.id}/revoke"
    assert client.post(action).status_code == 400
    db.session.expire_all()
    assert db.session.get(Delivery, sent.delivery.id).revoked_at is None

    token = csrf_token(_form(client.get(page).get_data(as_text=True), action))
    assert client.post(action, data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Delivery, sent.delivery.id).revoked_at is not None


def test_reply_needs_its_token(team, client):
    sent = team.send()
    add_customer_comment(team.customer.id, sent.delivery.id, "请问交期？")
    commit()
    _sign_in(client, team.rep)
    page = f"/customers/{team.customer.id}"
    action = f"{page}/deliveries/{sent.delivery.id}/reply"
    prefix = f"reply-{sent.delivery.id}-"
    assert client.post(action, data={f"{prefix}text": "两周"}).status_code == 400
    assert _count(Comment) == 1

    form = _form(client.get(page).get_data(as_text=True), action)
    token = csrf_token(form, prefix)
    response = client.post(action, data={f"{prefix}text": "两周", f"{prefix}csrf_token": token})
    assert response.status_code == 302
    assert _count(Comment) == 2


def test_new_customer_and_mark_read_need_their_tokens(team, client):
    notify(team.rep, "delivery.opened", {"customer": "张伟", "document": "方案报价"})
    commit()
    _sign_in(client, team.rep)
    before = _count(Customer)
    assert client.post("/customers/new", data={"name": "赵六"}).status_code == 400
    assert _count(Customer) == before
    token = csrf_token(client.get("/customers/new").get_data(as_text=True))
    assert (
        client.post("/customers/new", data={"name": "赵六", "csrf_token": token}).status_code == 302
    )
    assert _count(Customer) == before + 1

    assert client.post("/notifications/read").status_code == 400
    unread = select(func.count()).select_from(Notification).where(Notification.read_at.is_(None))
    assert db.session.scalar(unread) == 1
    html = client.get("/notifications/").get_data(as_text=True)
    token = csrf_token(_form(html, "/notifications/read"))
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(unread) == 0
