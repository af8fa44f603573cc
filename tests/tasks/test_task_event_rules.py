"""Issue 4 (tasks): callback_24h and grade_a through the customer's routes; comment_followup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal import jobs
from portal.extensions import db
from portal.notifications.models import Notification
from portal.notifications.services import describe
from portal.tasks.models import Task
from portal.tracking.events import NewEvent, record_many
from portal.tracking.ingest import ingest_batch
from portal.tracking.models import EventType
from tests.delivery.helpers import make_delivery
from tests.engagement.scoring_support import BROWSER, events, ingest_token, path_of, read, score_of
from tests.viewer_support import open_in_viewer

SHANGHAI = ZoneInfo("Asia/Shanghai")


def tasks_of(customer, rule=None) -> list[Task]:
    query = select(Task).where(Task.customer_id == customer.id).order_by(Task.id)
    if rule:
        query = query.where(Task.rule_key == rule)
    return list(db.session.scalars(query))


def notes(user, kind) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)
        )
    )


def test_long_read_opens_callback_24h_and_grade_a_opens_the_service_channel(
    app, client, clock, team
):
    buyer = team.buyer
    quote = make_delivery(team.rep, buyer, team.quote)
    brochure = make_delivery(team.rep, buyer, team.brochure)
    open_in_viewer(client, path_of(quote.url), headers=BROWSER)  # fetched and confirmed
    token = ingest_token(quote.delivery)
    for _ in range(12):  # 120 s: not yet "more than 120 s"
        clock.advance(seconds=10)
        ingest_batch(token, read(token, page=2), now=clock.now)
    assert tasks_of(buyer, "callback_24h") == []
    clock.advance(seconds=10)
    ingest_batch(token, read(token, page=2), now=clock.now)  # 130 s
    crossed = events(buyer, EventType.PAGE_VIEWED)[-1]

    [task] = tasks_of(buyer, "callback_24h")
    assert task.owner_id == team.rep.id
    assert task.status == "open" and task.priority == "normal"
    assert task.due_at == crossed.occurred_at + timedelta(hours=24)
    assert crossed.id in task.event_ids
    assert task.reason["read_seconds"] == 130
    assert task.reason["document"] == team.quote.name
    assert notes(team.rep, "task.created")

    # More reading in the same session: still one task.
    clock.advance(seconds=10)
    ingest_batch(token, read(token, page=1), now=clock.now)
    assert len(tasks_of(buyer, "callback_24h")) == 1

    # 15 senior title + 10 industry + 5 opened + 20 pricing + 10 long read (at 120 s) = 60:
    # grade A at the twelfth report (then deep_read: 70).
    assert score_of(buyer) == (70, "A")
    [channel] = tasks_of(buyer, "grade_a")
    assert channel.priority == "high" and channel.owner_id == team.rep.id
    assert channel.event_ids == [events(buyer, EventType.PAGE_VIEWED)[11].id]
    assert channel.reason["score"] == 60
    [note] = notes(team.supervisor, "grade.a")
    assert note.customer_id == buyer.id
    with app.test_request_context():
        assert buyer.name in describe(note)

    # The brochure download raises the score; the grade stays A: no second task or note.
    clock.advance(seconds=60)
    assert client.get(path_of(brochure.url, "/download"), headers=BROWSER).status_code == 200
    assert score_of(buyer) == (85, "A")
    assert len(tasks_of(buyer, "grade_a")) == 1
    assert len(notes(team.supervisor, "grade.a")) == 1
    assert notes(team.other_boss, "grade.a") == []


def test_callback_text_in_both_languages(app, team):
    from flask_babel import force_locale

    from portal.tasks.rules import title_for

    with app.test_request_context(), force_locale("zh_CN"):
        assert title_for("callback_24h") == "24小时内回访"
    with app.test_request_context(), force_locale("en"):
        assert title_for("callback_24h") == "Call back within 24 h"


def comment(customer, at: datetime, key: str):
    stored = record_many(
        [
            NewEvent(
                customer_id=customer.id,
                type=EventType.COMMENT_CREATED,
                occurred_at=at,
                idempotency_key=key,
            )
        ]
    )
    jobs.commit()
    return stored[0]


def test_comment_followup_due_next_business_day_one_open_task(app, team):
    friday = datetime(2027, 3, 5, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
    first = comment(team.buyer, friday, "c1")
    [task] = tasks_of(team.buyer, "comment_followup")
    assert task.due_at.astimezone(SHANGHAI) == datetime(2027, 3, 8, 10, 0, tzinfo=SHANGHAI)
    assert task.event_ids == [first.id]

    comment(team.buyer, friday + timedelta(hours=1), "c2")  # another comment: same task
    assert len(tasks_of(team.buyer, "comment_followup")) == 1

    from portal.tasks.services import complete

    complete(team.rep, task.id)
    jobs.commit()
    monday = datetime(2027, 3, 8, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    comment(team.buyer, monday, "c3")  # the first is done: a new one, due Tuesday
    tasks = tasks_of(team.buyer, "comment_followup")
    assert [t.status for t in tasks] == ["done", "open"]
    assert tasks[1].due_at.astimezone(SHANGHAI) == datetime(2027, 3, 9, 9, 0, tzinfo=SHANGHAI)


def test_business_days_skip_the_weekend(app):
    from portal.tasks.services import add_business_days

    saturday = datetime(2027, 3, 6, 15, 0, tzinfo=SHANGHAI)
    assert add_business_days(saturday, 1).astimezone(SHANGHAI) == datetime(
        2027, 3, 8, 15, 0, tzinfo=SHANGHAI
    )
    # 23:30 UTC Thursday is Friday 07:30 in Shanghai: due Monday 07:30 there.
    late = datetime(2027, 3, 4, 23, 30, tzinfo=UTC)
    assert add_business_days(late, 1).astimezone(SHANGHAI) == datetime(
        2027, 3, 8, 7, 30, tzinfo=SHANGHAI
    )
