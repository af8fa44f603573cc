"""Caps and idempotency: repeats never score past a rule's cap, duplicates never score at all."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from portal import jobs
from portal.engagement import rules
from portal.engagement.ledger import Ledger
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking import events as event_path
from portal.tracking.events import NewEvent, record_many
from portal.tracking.ingest import ingest_batch
from portal.tracking.models import Event, EventType
from portal.tracking.sessions import ingest_token
from tests.delivery.helpers import make_customer, make_delivery
from tests.engagement.scoring_support import (
    entries,
    events,
    new_session,
    points_by_rule,
    record,
    score_of,
)


def test_the_same_idempotency_key_twice_scores_once(shop, buyer):
    delivery = make_delivery(shop.rep, buyer, shop.quote).delivery
    opened = NewEvent(
        customer_id=buyer.id,
        type=EventType.LINK_OPENED,
        delivery_id=delivery.id,
        idempotency_key="wechat-open-1",
    )
    record_many([opened, opened])  # twice in one batch
    jobs.commit()
    record_many([opened])  # and again later
    jobs.commit()

    assert len(events(buyer)) == 1
    assert points_by_rule(buyer) == {
        "senior_title": 15,
        "target_industry": 10,
        "doc_opened": 5,
        "pricing_viewed": 20,
    }
    assert score_of(buyer) == (50, "B")


def test_a_repeated_viewer_report_is_stored_and_scored_once(shop, buyer, clock):
    delivery = make_delivery(shop.rep, buyer, shop.quote).delivery
    session = new_session(delivery)
    token = ingest_token(session)
    report = {"k": "same-report", "type": "page.viewed", "page": 1, "ms": 130_000}
    clock.advance(seconds=200)
    first = ingest_batch(token, {"s": token, "reports": [report]}, now=clock.now)
    again = ingest_batch(token, {"s": token, "reports": [report, report]}, now=clock.now)

    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 2)
    assert points_by_rule(buyer)["long_read"] == 10


def test_a_thousand_comments_in_one_batch_stop_at_the_cap(shop, buyer):
    delivery = make_delivery(shop.rep, buyer, shop.brochure).delivery
    stored = record_many(
        NewEvent(
            customer_id=buyer.id,
            type=EventType.COMMENT_CREATED,
            delivery_id=delivery.id,
            properties={"comment_id": n},
        )
        for n in range(1000)
    )
    jobs.commit()

    assert len(stored) == 1000
    points = points_by_rule(buyer)
    assert points["comment_created"] == 45  # cap 45: three comments' worth, never more
    assert points["frequent_interaction"] == 10  # once per 7 days
    rows = db.session.scalar(
        select(func.count()).where(
            ScoreEntry.customer_id == buyer.id, ScoreEntry.rule_key == "comment_created"
        )
    )
    assert rows == 3
    assert score_of(buyer)[0] == 15 + 10 + 45 + 10


def test_a_thousand_opens_one_at_a_time_on_a_thousand_days_stop_at_every_cap(shop, buyer, clock):
    """A thousand handler calls, one open each, each on a new day: return_visit (5, cap 15) and
    frequent_interaction (10, cap 30) stop at their caps, doc_opened pays once per delivery.
    (Committed every 100 calls: each call reads the ledger the previous ones wrote.)"""
    delivery = make_delivery(shop.rep, buyer, shop.brochure).delivery
    for day in range(1000):
        record_many(
            [
                NewEvent(
                    customer_id=buyer.id,
                    type=EventType.LINK_OPENED,
                    delivery_id=delivery.id,
                    occurred_at=clock.now + timedelta(days=day),
                )
            ]
        )
        if day % 100 == 99:
            jobs.commit()

    assert points_by_rule(buyer) == {
        "senior_title": 15,
        "target_industry": 10,
        "doc_opened": 5,
        "return_visit": 15,
        "frequent_interaction": 30,
    }
    assert score_of(buyer) == (75, "A")
    paid = [e.at for e in entries(buyer) if e.rule_key == "frequent_interaction"]
    assert [(at - clock.now).days for at in paid] == [4, 11, 18]  # the 5th open, then weekly


def test_a_thousand_identical_batches_of_a_capped_event_change_nothing_after_the_cap(
    shop, make_user
):
    """The worst case for a cap: the same kind of event, a thousand times, in batches."""
    customer = make_customer(shop.rep, name="王芳", title="工程师", email="wang@example.com")
    delivery = make_delivery(shop.rep, customer, shop.brochure).delivery
    for _ in range(10):
        record(
            customer,
            EventType.DOC_DOWNLOADED,
            count=100,
            delivery_id=delivery.id,
        )
    assert len(events(customer, EventType.DOC_DOWNLOADED)) == 1000
    points = points_by_rule(customer)
    assert points["brochure_downloaded"] == 15  # once per delivery
    assert points["frequent_interaction"] == 10
    assert score_of(customer) == (25, "C")


def test_keys_shared_by_two_batches_in_one_transaction_are_scored_once(shop, buyer):
    """record_many drops a key it has already stored, even before the commit."""
    delivery = make_delivery(shop.rep, buyer, shop.quote).delivery
    key = uuid.uuid4().hex
    for _ in range(3):
        event_path.record(
            NewEvent(
                customer_id=buyer.id,
                type=EventType.LINK_OPENED,
                delivery_id=delivery.id,
                idempotency_key=key,
            )
        )
    jobs.commit()
    assert db.session.scalar(select(func.count()).select_from(Event)) == 1
    assert points_by_rule(buyer)["doc_opened"] == 5


def test_two_transactions_scoring_one_customer_at_once_respect_the_cap(
    app, shop, buyer, monkeypatch
):
    """Each transaction reads the ledger, waits, then writes: without the customer's row lock
    both would see an empty ledger and pay comment_created past its cap."""
    rules.update_rule("comment_created", by=shop.admin, cap=15)
    delivery = make_delivery(shop.rep, buyer, shop.brochure).delivery
    customer_id, delivery_id = buyer.id, delivery.id
    slow_write = Ledger.write

    def write_slowly(self):
        time.sleep(0.3)
        return slow_write(self)

    monkeypatch.setattr(Ledger, "write", write_slowly)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def comment(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                record_many(
                    [
                        NewEvent(
                            customer_id=customer_id,
                            type=EventType.COMMENT_CREATED,
                            delivery_id=delivery_id,
                            properties={"comment_id": n},
                        )
                    ]
                )
                jobs.commit()
            except BaseException as exc:  # checked below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=comment, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors, errors
    db.session.expire_all()
    assert len(events(buyer, EventType.COMMENT_CREATED)) == 2
    assert points_by_rule(buyer)["comment_created"] == 15
    assert score_of(buyer)[0] == sum(points_by_rule(buyer).values())
