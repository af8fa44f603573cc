"""Alerts reach the WeCom, DingTalk and Feishu robots in each vendor's documented format and
signature (checked by local listeners that recompute the signature and refuse a wrong one),
after the commit; a vendor error is recorded and retried with backoff; quiet hours hold them
until 08:00 (the tick, with an injected clock); repeats are coalesced."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.channels import outbox
from portal.channels.models import OutboxMessage
from portal.channels.services import create_channel
from portal.extensions import db
from portal.jobs import commit
from portal.notifications.models import Notification
from portal.notifications.services import notify
from portal.tasks.tick import run_tick
from tests.channels.conftest import SECRETS, URLS

SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE = "孙丽 正在查看“报价单”"  # the zh text of delivery.opened


def _local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A moment in PORTAL_TIMEZONE (Asia/Shanghai by default), as UTC: the injected clock."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=day_offset)
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC"))


@pytest.fixture
def team(make_user):
    supervisor = make_user("supervisor", email="lead@example.com", team="华东")
    rep = make_user("rep", email="sun@example.com", team="华东", supervisor="lead@example.com")
    return supervisor, rep


def _channel(by, kind, *, secret=None, **owner):
    channel = create_channel(by, kind=kind, url=URLS[kind], secret=secret or SECRETS[kind], **owner)
    commit()
    return channel


def _alert(rep, *, now, key=None):
    notification = notify(
        rep,
        "delivery.opened",
        {"customer": "孙丽", "document": "报价单"},
        url="/customers/7",
        customer_id=None,
        coalesce_key=key,
        now=now,
    )
    commit()  # the send leaves after the commit (inline jobs: right after it)
    return notification


def _messages():
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_wecom_gets_markdown_with_a_link_to_the_customer(team, robots):
    supervisor, rep = team
    _channel(supervisor, "wecom", team="华东")
    _alert(rep, now=_local(0, 10))

    [got] = robots["wecom"].accepted
    assert got.query == {"key": robots["wecom"].token}
    assert got.body == {
        "msgtype": "markdown",
        "markdown": {"content": f"**{TITLE}**\n[查看客户](http://portal.test/customers/7)"},
    }
    [row] = _messages()
    assert (row.status, row.transport, row.attempts, row.error_code) == ("sent", "chat", 1, "")


def test_dingtalk_is_signed_in_the_query_and_gets_markdown(team, robots):
    supervisor, rep = team
    _channel(supervisor, "dingtalk", user_email=rep.email)
    _alert(rep, now=_local(0, 10))

    [got] = robots["dingtalk"].accepted  # the listener recomputed the sign from the secret
    assert set(got.query) == {"access_token", "timestamp", "sign"}
    assert len(got.query["timestamp"]) == 13  # milliseconds
    assert got.body == {
        "msgtype": "markdown",
        "markdown": {
            "title": TITLE,
            "text": f"#### {TITLE}\n\n[查看客户](http://portal.test/customers/7)",
        },
    }
    assert _messages()[0].status == "sent"


def test_feishu_is_signed_in_the_body_and_gets_a_card_with_a_button(team, robots):
    _supervisor, rep = team
    _channel(rep, "feishu", user_email=rep.email)
    _alert(rep, now=_local(0, 10))

    [got] = robots["feishu"].accepted
    assert list(got.body)[:2] == ["timestamp", "sign"]
    assert len(got.body["timestamp"]) == 10  # seconds, as a string
    assert got.body["msg_type"] == "interactive"
    card = got.body["card"]
    assert card["header"]["title"] == {"tag": "plain_text", "content": TITLE}
    [action] = card["elements"]
    assert action["actions"][0]["url"] == "http://portal.test/customers/7"
    assert action["actions"][0]["text"]["content"] == "查看客户"
    assert _messages()[0].status == "sent"


@pytest.mark.parametrize(("kind", "code"), [("dingtalk", "310000"), ("feishu", "19021")])
def test_a_wrong_signature_is_refused_and_recorded_with_the_vendors_code(team, robots, kind, code):
    supervisor, rep = team
    _channel(supervisor, kind, secret="not-the-robots-secret", team="华东")
    _alert(rep, now=_local(0, 10))

    assert robots[kind].accepted == [] and len(robots[kind].received) == 1
    [row] = _messages()
    assert (row.status, row.attempts, row.error_code) == ("pending", 1, code)
    assert row.next_attempt_at is not None  # retried later, as any vendor error


def test_a_vendor_error_is_retried_with_backoff_until_accepted(team, robots):
    supervisor, rep = team
    wecom = robots["wecom"]
    wecom.fail_next = [{"errcode": 45009, "errmsg": "api freq out of limit"}] * 2
    _channel(supervisor, "wecom", team="华东")
    _alert(rep, now=_local(0, 10))

    [row] = _messages()
    assert (row.status, row.attempts, row.error_code) == ("pending", 1, "45009")
    assert "freq" in row.error
    first_due = row.next_attempt_at
    assert first_due - row.created_at >= outbox.BACKOFF[0]

    assert outbox.retry_due(first_due - timedelta(seconds=1)) == 0  # not yet
    assert len(wecom.received) == 1
    assert outbox.retry_due(first_due) == 1
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.attempts, row.error_code) == ("pending", 2, "45009")
    assert row.next_attempt_at - first_due >= outbox.BACKOFF[1]  # the next wait is longer

    assert run_tick(row.next_attempt_at).alerts_retried == 1  # the tick resends it
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.attempts, row.error_code) == ("sent", 3, "")
    assert len(wecom.accepted) == 1 and len(wecom.received) == 3


def failures_counted() -> dict[str, float]:
    """portal_channel_failures_total (GET /metrics) of chat messages by outcome, here."""
    from prometheus_client import REGISTRY

    return {
        outcome: REGISTRY.get_sample_value(
            "portal_channel_failures_total", {"transport": "chat", "outcome": outcome}
        )
        or 0
        for outcome in ("retry", "failed")
    }


def test_attempts_end_as_failed_with_the_last_code(team, robots):
    supervisor, rep = team
    robots["wecom"].fail_next = [{"errcode": 45009, "errmsg": "api freq out of limit"}] * 10
    counted = failures_counted()
    _channel(supervisor, "wecom", team="华东")
    _alert(rep, now=_local(0, 10))
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        [row] = _messages()
        outbox.retry_due(row.next_attempt_at)
        db.session.expire_all()
    [row] = _messages()
    assert (row.status, row.attempts, row.error_code) == ("failed", outbox.MAX_ATTEMPTS, "45009")
    assert row.next_attempt_at is None
    assert len(robots["wecom"].received) == outbox.MAX_ATTEMPTS
    now_counted = failures_counted()
    assert now_counted["retry"] - counted["retry"] == outbox.MAX_ATTEMPTS - 1
    assert now_counted["failed"] - counted["failed"] == 1


def test_quiet_hours_hold_until_8_and_send_once(team, robots):
    supervisor, rep = team
    _channel(supervisor, "wecom", team="华东")
    _alert(rep, now=_local(0, 23))  # 23:00 in Shanghai: inside the default 22:00–08:00

    assert robots["wecom"].received == []
    [row] = _messages()
    assert row.status == "held" and row.hold_until == _local(1, 8)
    # the in-app note is there at once: it makes no noise
    assert db.session.scalar(select(Notification.in_app)) is True

    assert run_tick(_local(1, 7, 59)).alerts_released == 0
    assert robots["wecom"].received == []
    assert run_tick(_local(1, 8)).alerts_released == 1
    assert len(robots["wecom"].accepted) == 1
    assert run_tick(_local(1, 8, 5)).alerts_released == 0  # sent once
    assert len(robots["wecom"].received) == 1
    db.session.expire_all()
    assert _messages()[0].status == "sent"


def test_quiet_hours_off_sends_at_night(team, robots, client, api_headers):
    supervisor, rep = team
    _channel(supervisor, "wecom", team="华东")
    answer = client.put(
        "/api/v1/me/notification-preferences",
        json={"quiet_hours": {"enabled": False}},
        headers=api_headers(rep),
    )
    assert answer.status_code == 200 and answer.json["quiet_hours"]["enabled"] is False
    _alert(rep, now=_local(0, 23))
    assert len(robots["wecom"].accepted) == 1


def test_repeats_of_one_reading_session_are_one_alert(team, robots):
    supervisor, rep = team
    _channel(supervisor, "wecom", team="华东")
    first = _alert(rep, now=_local(0, 10), key="reading:41")
    again = _alert(rep, now=_local(0, 10, 1), key="reading:41")
    other = _alert(rep, now=_local(0, 10, 2), key="reading:42")  # another session

    assert again.id == first.id and other.id != first.id
    assert len(robots["wecom"].accepted) == 2
    assert db.session.scalar(select(db.func.count()).select_from(Notification)) == 2


def test_preferences_choose_the_transports_per_alert(team, robots, client, api_headers):
    supervisor, rep = team
    _channel(supervisor, "wecom", team="华东")
    answer = client.put(
        "/api/v1/me/notification-preferences",
        json={"alerts": {"first_open": ["chat"], "comment": ["app"]}},
        headers=api_headers(rep),
    )
    assert answer.status_code == 200
    assert answer.json["alerts"]["first_open"] == ["chat"]
    assert answer.json["alerts"]["grade_a"] == ["app", "email", "chat"]  # the default

    _alert(rep, now=_local(0, 10))  # first_open: chat only
    notify(rep, "comment.created", {"customer": "孙丽"}, url="/customers/7", now=_local(0, 10))
    commit()

    assert len(robots["wecom"].accepted) == 1  # the comment stayed in the app
    from portal.notifications.services import recent, unread_count

    assert [n.kind for n in recent(rep)] == ["comment.created"]  # first_open not in the app
    assert unread_count(rep) == 1


def test_secrets_are_encrypted_at_rest(team, robots):
    supervisor, _rep = team
    channel = _channel(supervisor, "dingtalk", team="华东")
    row = db.session.execute(
        db.text("SELECT url_encrypted, url_hint, secret_encrypted FROM chat_channels")
    ).one()
    stored = json.dumps(list(row))
    assert robots["dingtalk"].token not in stored
    assert SECRETS["dingtalk"] not in stored
    assert channel.url_hint.endswith("access_token=…cdef")


def test_email_alerts_are_held_through_quiet_hours_too(team, app, monkeypatch):
    _supervisor, rep = team
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "portal.channels.outbox.send_mail",
        lambda to, subject, body, html=None: sent.append((to, subject)),
    )
    monkeypatch.setitem(app.config, "SMTP_URL", "smtp://127.0.0.1:1")
    _alert(rep, now=_local(0, 23, 30))
    [row] = _messages()
    assert (row.transport, row.status) == ("email", "held")
    assert sent == []
    run_tick(_local(1, 8))
    assert sent == [(rep.email, TITLE)]  # the rep's language: zh by default
    run_tick(_local(1, 9))
    assert len(sent) == 1
