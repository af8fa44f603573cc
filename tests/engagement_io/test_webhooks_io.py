"""Outbound webhooks: signed POSTs to a real receiver on loopback, retried with backoff."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.engagement import rules, scoring
from portal.engagement.ledger import GradeChange
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.tracking.events import NewEvent, record
from portal.webhooks import hooks, service
from portal.webhooks.models import Webhook, WebhookDelivery
from tests.delivery.helpers import make_customer, make_delivery
from tests.viewer_support import open_in_viewer

ALL = "delivery.opened,customer.grade_changed,comment.created"


def add_webhook(runner, url: str, events: str = ALL) -> str:
    """Register through the CLI; the secret it prints once."""
    result = runner.invoke(args=["webhooks", "add", url, "--events", events])
    assert result.exit_code == 0, result.output
    return re.search(r"secret \(shown once\): (\w+)", result.output).group(1)


def open_link(client, url: str):
    """A customer's open: the page fetched, then confirmed by the viewer (a GET alone is a
    preview, and posts nothing)."""
    return open_in_viewer(client, url)


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("portal.webhooks.service.utcnow", fake)
    return fake


def test_first_open_is_posted_signed_and_verifies(client, runner, world, receiver_factory):
    receiver = receiver_factory()
    secret = add_webhook(runner, receiver.url)
    sent = make_delivery(world.rep, world.customer, world.template)
    open_link(client, sent.url)
    open_link(client, sent.url)  # a second open is not "delivery.opened" again

    opened = [r for r in receiver.received if r.headers["X-Portal-Event"] == "delivery.opened"]
    assert len(opened) == 1
    item = opened[0]
    assert receiver.verify(secret, item)
    assert not receiver.verify("wrong-secret", item)
    payload = json.loads(item.body)
    assert payload["event"] == "delivery.opened"
    assert payload["data"]["delivery_id"] == sent.delivery.id
    assert payload["data"]["customer_id"] == world.customer.id
    assert payload["data"]["template_name"] == world.template.name
    row = db.session.get(WebhookDelivery, int(item.headers["X-Portal-Delivery"]))
    assert payload["id"] == row.id
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 200
    assert item.headers["Content-Type"].startswith("application/json")


def test_grade_change_and_comment_are_posted(client, runner, make_user, receiver_factory):
    from tests.delivery.helpers import make_template

    rules.install_defaults()
    jobs.commit()
    assert hooks.webhook_grades in scoring.grade_handlers()
    receiver = receiver_factory()
    secret = add_webhook(runner, receiver.url)
    marketing = make_user("marketing")
    rep = make_user("rep")
    buyer = make_customer(rep, title="采购总监", industry="制造业")  # 25 points: C
    sent = make_delivery(rep, buyer, make_template(marketing))
    open_link(client, sent.url)  # a quote opened: +5 +20 -> 50, grade B
    grades = [
        r for r in receiver.received if r.headers["X-Portal-Event"] == "customer.grade_changed"
    ]
    assert len(grades) == 1 and receiver.verify(secret, grades[0])
    data = json.loads(grades[0].body)["data"]
    assert (data["customer_id"], data["old_grade"], data["new_grade"]) == (buyer.id, "C", "B")
    assert data["score"] == 50 and data["owner_email"] == rep.email

    record(NewEvent(customer_id=buyer.id, type="comment.created", delivery_id=sent.delivery.id))
    jobs.commit()
    comments = [r for r in receiver.received if r.headers["X-Portal-Event"] == "comment.created"]
    assert len(comments) == 1 and receiver.verify(secret, comments[0])
    assert json.loads(comments[0].body)["data"]["delivery_id"] == sent.delivery.id


def test_a_500_is_retried_with_backoff_until_it_succeeds(runner, world, receiver_factory, clock):
    receiver = receiver_factory(plan=[500])
    secret = add_webhook(runner, receiver.url, "customer.grade_changed")
    hooks.webhook_grades([GradeChange(world.customer.id, "B", "A", 65)])
    jobs.commit()

    row = db.session.scalar(select(WebhookDelivery))
    assert len(receiver.received) == 1
    assert row.status == "pending" and row.attempts == 1
    assert row.last_status_code == 500 and row.last_error == "HTTP 500"
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)

    assert "retried 0" in runner.invoke(args=["webhooks", "retry-due"]).output  # not due yet
    assert len(receiver.received) == 1

    clock.now += timedelta(seconds=11)
    result = runner.invoke(args=["webhooks", "retry-due"])
    assert "retried 1" in result.output, result.output
    db.session.expire_all()
    row = db.session.get(WebhookDelivery, row.id)
    assert row.status == "delivered" and row.attempts == 2 and row.next_attempt_at is None
    first, second = receiver.received
    assert first.headers["X-Portal-Delivery"] == second.headers["X-Portal-Delivery"] == str(row.id)
    assert first.body == second.body
    assert receiver.verify(secret, first) and receiver.verify(secret, second)
    assert json.loads(second.body)["data"]["new_grade"] == "A"


def failures_counted() -> dict[str, float]:
    """portal_webhook_failures_total (GET /metrics) by outcome, in this process."""
    from prometheus_client import REGISTRY

    return {
        outcome: REGISTRY.get_sample_value("portal_webhook_failures_total", {"outcome": outcome})
        or 0
        for outcome in ("retry", "failed")
    }


def test_six_failures_give_up_after_the_documented_backoff(world, receiver_factory, clock):
    receiver = receiver_factory(plan=[503] * 6)
    counted = failures_counted()
    service.create_webhook(receiver.url, ["customer.grade_changed"])
    hooks.webhook_grades([GradeChange(world.customer.id, "C", "B", 30)])
    jobs.commit()
    row_id = db.session.scalar(select(WebhookDelivery.id))
    waits = []
    for _ in range(5):
        row = db.session.get(WebhookDelivery, row_id)
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
        assert service.retry_due() == 1
        db.session.expire_all()
    assert waits == [
        timedelta(seconds=10),
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
    ]
    row = db.session.get(WebhookDelivery, row_id)
    assert row.status == "failed" and row.attempts == 6 and row.next_attempt_at is None
    assert len(receiver.received) == 6
    now_counted = failures_counted()
    assert now_counted["retry"] - counted["retry"] == 5
    assert now_counted["failed"] - counted["failed"] == 1
    clock.now += timedelta(days=1)
    assert service.retry_due() == 0


def test_an_unreachable_receiver_is_recorded_and_retried(world, receiver_factory, clock):
    receiver = receiver_factory()
    port = urlsplit(receiver.url).port
    service.create_webhook("http://127.0.0.1:9/hook", ["customer.grade_changed"])
    hooks.webhook_grades([GradeChange(world.customer.id, "C", "B", 30)])
    jobs.commit()
    row = db.session.scalar(select(WebhookDelivery))
    assert row.status == "pending" and row.last_status_code is None and row.last_error
    row.webhook.url = f"http://127.0.0.1:{port}/hook"  # the receiver is back
    jobs.commit()
    clock.now += timedelta(seconds=10)
    assert service.retry_due() == 1
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, row.id).status == "delivered"


def test_nothing_leaves_before_the_commit(world, receiver_factory):
    receiver = receiver_factory()
    service.create_webhook(receiver.url, ["customer.grade_changed"])
    jobs.commit()
    hooks.webhook_grades([GradeChange(world.customer.id, "C", "B", 30)])
    assert receiver.received == []
    db.session.rollback()
    jobs.commit()
    assert receiver.received == []
    assert db.session.scalar(select(WebhookDelivery)) is None


def test_only_subscribed_and_active_webhooks_get_payloads(world, receiver_factory):
    wanted = receiver_factory()
    other = receiver_factory()
    off = receiver_factory()
    service.create_webhook(wanted.url, ["customer.grade_changed"])
    service.create_webhook(other.url, ["comment.created"])
    service.create_webhook(off.url, ["customer.grade_changed"]).active = False
    hooks.webhook_grades([GradeChange(world.customer.id, "C", "B", 30)])
    jobs.commit()
    assert len(wanted.received) == 1 and other.received == [] and off.received == []


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("ftp://example.com/x", "comment.created"),
        ("file:///etc/passwd", "comment.created"),
        ("http://", "comment.created"),
        ("https://example.com/" + "a" * 500, "comment.created"),
        ("https://example.com/hook", "delivery.read"),
        ("https://example.com/hook", ""),
    ],
)
def test_bad_urls_and_events_are_refused(app, url, events):
    with pytest.raises(ValidationFailed):
        service.create_webhook(url, events)


def test_cli_lists_and_removes(runner, app):
    add_webhook(runner, "https://hooks.example.com/portal", "comment.created")
    webhook = db.session.scalar(select(Webhook))
    listed = runner.invoke(args=["webhooks", "list"]).output
    assert f"{webhook.id}\tactive\tcomment.created\thttps://hooks.example.com/portal" in listed
    assert webhook.secret not in listed
    assert runner.invoke(args=["webhooks", "remove", str(webhook.id)]).exit_code == 0
    assert runner.invoke(args=["webhooks", "remove", str(webhook.id)]).exit_code != 0
    bad = runner.invoke(args=["webhooks", "add", "ftp://x", "--events", "comment.created"])
    assert bad.exit_code != 0 and "http" in bad.output


def test_task_created_is_posted(runner, world, receiver_factory):
    from portal.tasks.services import open_task

    receiver = receiver_factory()
    secret = add_webhook(runner, receiver.url, events="task.created")
    task = open_task(
        world.customer, "comment_followup", due_at=utcnow() + timedelta(days=1), reason={}
    )
    jobs.commit()
    [item] = receiver.received
    assert item.headers["X-Portal-Event"] == "task.created"
    assert receiver.verify(secret, item)
    data = json.loads(item.body)["data"]
    assert (data["task_id"], data["customer_id"], data["rule"]) == (
        task.id,
        world.customer.id,
        "comment_followup",
    )
