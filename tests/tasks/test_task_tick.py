"""`tick`: no_reply_3d once per window, reset by a reply; overdue escalation once; snoozes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tasks.models import Task
from portal.tasks.services import open_task, snooze
from portal.tasks.tick import run_tick
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import EventType
from tests.delivery.helpers import make_customer, make_delivery

T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def sent_at(rep, customer, template, at: datetime):
    sent = make_delivery(rep, customer, template)
    sent.delivery.created_at = at
    jobs.commit()
    return sent.delivery


def penalties(customer) -> list[ScoreEntry]:
    return list(
        db.session.scalars(
            select(ScoreEntry)
            .where(ScoreEntry.customer_id == customer.id, ScoreEntry.rule_key == "no_reply_3d")
            .order_by(ScoreEntry.id)
        )
    )


def tick(now: datetime):
    result = run_tick(now)
    jobs.commit()
    return result


def inbound(customer, type_: str, at: datetime, key: str) -> None:
    record_many(
        [NewEvent(customer_id=customer.id, type=type_, occurred_at=at, idempotency_key=key)]
    )
    jobs.commit()


def test_three_silent_days_cost_10_once_and_a_reply_resets_the_window(app, team):
    customer = make_customer(team.rep, name="赵敏", title="", industry="零售")
    first = sent_at(team.rep, customer, team.quote, T0)

    assert tick(T0 + timedelta(days=2, hours=23)).penalized == 0
    assert tick(T0 + timedelta(days=3, minutes=1)).penalized == 1
    [entry] = penalties(customer)
    assert (entry.points, entry.scope) == (-10, f"window:{first.id}")
    db.session.refresh(customer)
    assert customer.score == -10

    # A second tick (the same moment or later) changes nothing.
    assert tick(T0 + timedelta(days=3, minutes=1)).penalized == 0
    assert tick(T0 + timedelta(days=6)).penalized == 0
    assert len(penalties(customer)) == 1
    db.session.refresh(customer)
    assert customer.score == -10

    # The customer replies, then a new send starts a new window.
    inbound(customer, EventType.REPLY_RECEIVED, T0 + timedelta(days=6, hours=1), "r1")
    second = sent_at(team.rep, customer, team.brochure, T0 + timedelta(days=7))
    assert tick(T0 + timedelta(days=9)).penalized == 0
    assert tick(T0 + timedelta(days=10, minutes=1)).penalized == 1
    assert [e.scope for e in penalties(customer)] == [f"window:{first.id}", f"window:{second.id}"]


def test_a_reply_inside_the_window_means_no_penalty(app, team):
    customer = make_customer(team.rep, name="钱进", title="", industry="零售")
    sent_at(team.rep, customer, team.quote, T0)
    inbound(customer, EventType.REPLY_RECEIVED, T0 + timedelta(days=1), "r2")
    assert tick(T0 + timedelta(days=3, hours=12)).penalized == 0
    inbound(customer, "external.wechat_message", T0 + timedelta(days=4), "r3")
    assert tick(T0 + timedelta(days=8)).penalized == 0
    assert penalties(customer) == []


def test_no_send_no_window(app, team):
    customer = make_customer(team.rep, name="孙立", title="", industry="零售")
    assert tick(T0 + timedelta(days=30)).penalized == 0
    assert penalties(customer) == []


def test_tick_command_is_idempotent(app, runner, team):
    customer = make_customer(team.rep, name="周全", title="", industry="零售")
    sent_at(team.rep, customer, team.quote, utcnow() - timedelta(days=4))
    first = runner.invoke(args=["tick"])
    assert first.exit_code == 0, first.output
    assert "1 no-reply penalties" in first.output
    second = runner.invoke(args=["tick"])
    assert second.exit_code == 0, second.output
    assert "0 no-reply penalties" in second.output
    assert len(penalties(customer)) == 1


def overdue_notes(user) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == user.id, Notification.kind == "task.overdue"
            )
        )
    )


def test_overdue_task_escalates_to_the_supervisor_once(app, team):
    task = open_task(team.buyer, "callback_24h", due_at=T0, reason={}, now=T0 - timedelta(days=1))
    jobs.commit()
    assert tick(T0 - timedelta(minutes=1)).escalated == 0
    assert tick(T0 + timedelta(minutes=1)).escalated == 1
    assert tick(T0 + timedelta(minutes=2)).escalated == 0
    [note] = overdue_notes(team.supervisor)
    assert note.customer_id == team.buyer.id and note.params["task_id"] == task.id
    db.session.refresh(task)
    assert task.escalated_at == T0 + timedelta(minutes=1)
    assert overdue_notes(team.rep) == []


def test_unsupervised_rep_hears_of_their_own_overdue_task(app, make_user, team):
    loner = make_user("rep")
    customer = make_customer(loner, name="吴用")
    open_task(customer, "comment_followup", due_at=T0, reason={}, now=T0 - timedelta(days=1))
    jobs.commit()
    assert tick(T0 + timedelta(hours=1)).escalated == 1
    assert len(overdue_notes(loner)) == 1


def test_snoozed_task_comes_back_after_a_day(app, team):
    task = open_task(team.buyer, "callback_24h", due_at=T0 + timedelta(days=5), reason={}, now=T0)
    jobs.commit()
    snooze(team.rep, task.id, now=T0)
    jobs.commit()
    assert task.status == "snoozed" and task.snoozed_until == T0 + timedelta(days=1)
    assert tick(T0 + timedelta(hours=23)).woken == 0
    assert tick(T0 + timedelta(days=1, minutes=1)).woken == 1
    db.session.refresh(task)
    assert task.status == "open" and task.snoozed_until is None
    # Snoozed, a task is still the open one of its rule.
    assert db.session.scalar(select(Task.open_marker).where(Task.id == task.id)) == 1


def test_scores_recompute_keeps_the_clocks_penalties(app, team):
    from portal.engagement.recompute import recompute

    customer = make_customer(team.rep, name="钱七", title="", industry="零售")
    sent_at(team.rep, customer, team.quote, T0)
    tick(T0 + timedelta(days=3, minutes=1))
    db.session.refresh(customer)
    before = customer.score
    recompute([customer.id])
    db.session.refresh(customer)
    assert [e.points for e in penalties(customer)] == [-10]
    assert customer.score == before
    # and the window stays paid: the next tick does not charge it again
    assert tick(T0 + timedelta(days=5)).penalized == 0


def test_a_reply_posted_to_the_api_resets_the_window(app, client, api_headers, team):
    base = utcnow() - timedelta(days=10)
    customer = make_customer(
        team.rep, name="吴用", title="", industry="零售", email="wu.yong@example.com"
    )
    sent_at(team.rep, customer, team.quote, base)
    response = client.post(
        "/api/v1/events",
        json={
            "customer_email": customer.email,
            "type": "reply.received",
            "occurred_at": (base + timedelta(days=2)).isoformat(),
            "idempotency_key": "wechat-msg-1",
            "properties": {"channel": "wechat_work"},
        },
        headers=api_headers(team.rep),
    )
    assert response.status_code == 202, response.json
    assert tick(base + timedelta(days=3, minutes=1)).penalized == 0
    assert tick(base + timedelta(days=4, hours=23)).penalized == 0
    assert tick(base + timedelta(days=5, minutes=1)).penalized == 0  # no send since the reply
    assert penalties(customer) == []
