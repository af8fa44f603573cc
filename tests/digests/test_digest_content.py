"""What the digests say, from the real event path: a confirmed open is a reader, a preview (a
GET nobody confirmed) and a staff member's look are not, a forwarded reader is shown as such;
only the rep's own customers; empty -> nothing sent; the person's language; HTML escaped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import jobs
from portal.digests.models import DigestSend
from portal.extensions import db
from portal.tasks.models import Task
from portal.tasks.tick import run_tick
from portal.tracking.models import ViewSession
from tests.delivery.helpers import make_customer, make_delivery
from tests.digests.conftest import body, monday_morning_after, next_morning, subject
from tests.engagement.scoring_support import BROWSER, path_of
from tests.viewer_support import open_in_viewer

PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}


def _latest_confirmation():
    return db.session.scalar(select(func.max(ViewSession.confirmed_at)))


def test_the_morning_digest_lists_confirmed_readers_only(
    app, browser, client, login, world, make_user, inbox
):
    rep = world.rep
    reader = make_customer(rep, name="孙<b>丽</b>", email="sun@example.com")
    previewed = make_customer(rep, name="李雷", email="li@example.com")
    other_rep = make_user("rep", email="other@example.com", supervisor="boss@example.com")
    not_mine = make_customer(other_rep, name="韩梅梅", email="han@example.com")

    quote = make_delivery(rep, reader, world.template)
    open_in_viewer(browser(), path_of(quote.url), headers=BROWSER)  # the customer
    open_in_viewer(browser(), path_of(quote.url), headers=PHONE)  # a forwarded reader
    # a link preview (fetched, never confirmed) and a staff member's look: not readers
    only_seen = make_delivery(rep, previewed, world.template)
    assert browser().get(path_of(only_seen.url), headers=BROWSER).status_code == 200
    login(rep)
    assert client.get(path_of(only_seen.url)).status_code == 200
    # another rep's customer reading: not in this rep's digest
    theirs = make_delivery(other_rep, not_mine, world.template)
    open_in_viewer(browser(), path_of(theirs.url), headers=BROWSER)
    jobs.commit()

    now = next_morning(_latest_confirmation())
    run_tick(now)
    jobs.commit()

    mine = [m for m in inbox.digests(wait_for=2) if m["To"] == rep.email]
    assert len(mine) == 1
    [digest] = mine
    assert "晨报" in subject(digest)
    html, text = body(digest, "html"), body(digest, "plain")
    assert "孙&lt;b&gt;丽&lt;/b&gt;" in html and "<b>丽" not in html  # escaped
    assert "孙<b>丽</b>" in text
    assert "昨天的读者" in html and world.template.name in html
    assert "转发读者" in html and "转发读者" in text  # the second device, shown as forwarded
    assert "李雷" not in html and "李雷" not in text  # a preview and an internal view
    assert "韩梅梅" not in html  # not this rep's customer
    assert f"/customers/{reader.id}" in html
    # the other rep's digest tells only of their own customer
    [theirs_mail] = [m for m in inbox.digests() if m["To"] == other_rep.email]
    assert "韩梅梅" in body(theirs_mail, "plain") and "孙" not in body(theirs_mail, "plain")


def test_nothing_to_tell_sends_nothing_and_english_readers_get_english(
    app, browser, world, make_user, inbox
):
    quiet_rep = make_user("rep", email="quiet@example.com", supervisor="boss@example.com")
    english = make_user("rep", email="en@example.com", supervisor="boss@example.com")
    english.locale = "en"
    customer = make_customer(english, name="Ada", email="ada@example.com")
    sent = make_delivery(english, customer, world.template)
    open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    jobs.commit()

    now = next_morning(_latest_confirmation())
    run_tick(now)
    jobs.commit()

    # (the supervisor's weekly digest may be due too, when the morning is a Monday)
    received = [m for m in inbox.digests(wait_for=1) if m["To"] != world.supervisor.email]
    assert [m["To"] for m in received] == [english.email]
    assert "morning digest" in subject(received[0])
    assert "Yesterday's readers" in body(received[0], "html")
    statuses = dict(
        db.session.execute(
            select(DigestSend.user_id, DigestSend.status).where(DigestSend.kind == "daily")
        ).all()
    )
    assert statuses[quiet_rep.id] == "empty" and statuses[english.id] == "sent"


def test_tasks_due_today_and_the_supervisors_week(app, browser, world, inbox):
    rep, customer = world.rep, world.customer
    sent = make_delivery(rep, customer, world.template)
    open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    # a forwarded reader opening the same link: not the customer, not an open of the team's
    open_in_viewer(browser(), path_of(sent.url), headers=PHONE)
    jobs.commit()
    opened = _latest_confirmation()
    # the Monday after: the open's week is the supervisor's "last week"
    now = monday_morning_after(opened)
    due_today = Task(
        customer_id=customer.id,
        owner_id=rep.id,
        rule_key="callback_24h",
        due_at=now + timedelta(hours=2),
        escalated_at=now,  # not the tick's overdue escalation's business here
    )
    overdue = Task(
        customer_id=customer.id,
        owner_id=rep.id,
        rule_key="comment_followup",
        due_at=now - timedelta(days=2),
        escalated_at=now,
    )
    db.session.add_all([due_today, overdue])
    jobs.commit()

    run_tick(now)
    jobs.commit()

    received = {m["To"]: m for m in inbox.digests(wait_for=2)}
    morning = body(received[rep.email], "plain")
    assert "今天到期的任务" in morning and "24小时内回访" in morning
    weekly = received[world.supervisor.email]
    assert "团队周报" in subject(weekly)
    weekly_text = body(weekly, "plain")
    assert rep.name in weekly_text and "1 次确认打开" in weekly_text
    assert "逾期任务" in weekly_text and customer.name in weekly_text
