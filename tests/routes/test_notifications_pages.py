"""The owner hears about a first open ("客户正在查看…") and comments: the list, the badge in the
navigation, opening one, marking all read; and the dashboard's shortcuts."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.delivery.comments import add_customer_comment
from portal.extensions import db
from portal.jobs import commit
from portal.notifications.models import Notification
from portal.notifications.services import notify
from portal.statement_count import counted_statements
from tests.routes.rep_support import (
    team_fixture,  # noqa: F401  (the `team` fixture)
)
from tests.viewer_support import open_in_viewer


def _badge(html: str) -> str | None:
    match = re.search(r'class="nav-badge"[^>]*><span aria-hidden="true">([^<]+)</span>', html)
    return match.group(1) if match else None


def _open_as_customer(app, url: str) -> int:
    """The customer opens their link in a browser of their own (no staff session): the page,
    then the viewer's confirmation that a page was seen (a fetch alone tells nobody)."""
    return open_in_viewer(app.test_client(), url).status_code


def test_a_first_open_is_listed_with_the_customers_name(team, app, login, client, text_of):
    sent = team.send()
    login(team.rep)
    assert _badge(client.get("/").get_data(as_text=True)) is None

    # the customer's browser, twice (another browser would be a forwarded reader: its own note)
    browser = app.test_client()
    assert open_in_viewer(browser, sent.url.replace("http://portal.test", "")).status_code == 200
    assert open_in_viewer(browser, sent.url.replace("http://portal.test", "")).status_code == 200

    home = client.get("/").get_data(as_text=True)
    assert _badge(home) == "1"  # one notification: only the first open tells
    page = client.get("/notifications/")
    assert page.status_code == 200
    text = text_of(page)
    assert "张伟 正在查看“方案报价”" in text
    assert "1 条未读" in text
    [note] = db.session.scalars(select(Notification)).all()
    assert f'href="/notifications/{note.id}"' in page.get_data(as_text=True)

    # opening it leads to the customer page and marks it read
    response = client.get(f"/notifications/{note.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customers/{team.customer.id}")
    assert _badge(client.get("/notifications/").get_data(as_text=True)) is None


def test_the_text_follows_the_readers_language(team, login, client, text_of):
    notify(team.rep, "delivery.opened", {"customer": "张伟", "document": "方案报价"})
    commit()
    login(team.rep)
    client.post("/lang", data={"lang": "en", "next": "/"})
    assert "张伟 is viewing “方案报价” right now" in text_of(client.get("/notifications/"))


def test_comments_notify_and_mark_all_read_clears_the_badge(team, login, client, text_of):
    sent = team.send()
    for text in ("能否优惠？", "<b>交期</b>多久？"):
        add_customer_comment(team.customer.id, sent.delivery.id, text)
        commit()
    login(team.rep)
    unread = select(func.count()).select_from(Notification)
    unread = unread.where(Notification.user_id == team.rep.id, Notification.read_at.is_(None))
    count = db.session.scalar(unread)
    assert count >= 2  # one per comment (other rules may add theirs, e.g. a task)
    assert _badge(client.get("/").get_data(as_text=True)) == str(count)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "&lt;b&gt;交期&lt;/b&gt;多久？" in html
    assert "<b>交期</b>" not in html

    response = client.post("/notifications/read")
    assert response.status_code == 302
    page = client.get("/notifications/")
    assert _badge(page.get_data(as_text=True)) is None
    assert "全部已读" in text_of(page)


def test_nobody_opens_another_users_notification(team, login, client):
    notify(team.other_rep, "delivery.opened", {"customer": "王芳", "document": "方案报价"})
    commit()
    note = db.session.scalar(select(Notification))
    login(team.rep)
    assert client.get(f"/notifications/{note.id}").status_code == 404
    assert "王芳" not in client.get("/notifications/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is None


def test_a_notification_never_leads_off_site(team, login, client):
    notify(team.rep, "delivery.opened", {"customer": "x", "document": "y"}, url="//evil.example")
    commit()
    note = db.session.scalar(select(Notification))
    login(team.rep)
    response = client.get(f"/notifications/{note.id}")
    assert response.headers["Location"].endswith("/notifications/")


def test_the_badge_costs_visitors_nothing_and_staff_one_count(team, login, client):
    with counted_statements() as anonymous:
        assert client.get("/login").status_code == 200
    assert not [s for s in anonymous if "notifications" in s]

    login(team.rep)
    with counted_statements() as signed_in:
        assert client.get("/library/").status_code == 200
    assert len([s for s in signed_in if "FROM notifications" in s]) == 1


def test_the_dashboard_links_my_customers_and_recent_notifications(team, login, client, text_of):
    notify(
        team.rep,
        "delivery.opened",
        {"customer": "张伟", "document": "方案报价"},
        url=f"/customers/{team.customer.id}",
    )
    commit()
    login(team.rep)
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert f'href="/customers/{team.customer.id}"' in html
    assert f'href="/customers/{team.other_customer.id}"' not in html
    assert "张伟 正在查看“方案报价”" in text_of(page)
    assert 'href="/notifications/"' in html

    client.post("/logout")
    login(team.supervisor)
    html = client.get("/").get_data(as_text=True)
    assert f'href="/customers/{team.other_customer.id}"' in html
